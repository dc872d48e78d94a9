"""`/wallet`: the member's `.pkpass` download, the card images, and Apple's PassKit web service
(`/wallet/v1/...`, the `webServiceURL` of every pass), as Apple's "Adding a Web Service to Update
Passes" specifies it:

- POST   /v1/devices/{device}/registrations/{passType}/{serial}  register: 201 new, 200 known
- DELETE /v1/devices/{device}/registrations/{passType}/{serial}  unregister: 200
- GET    /v1/devices/{device}/registrations/{passType}?passesUpdatedSince=tag
         200 {serialNumbers, lastUpdated}, 204 when none
- GET    /v1/passes/{passType}/{serial}   the latest pass: 200, or 304 for If-Modified-Since
- POST   /v1/log                          the device's error messages: 200

Requests about one pass carry `Authorization: ApplePass <authenticationToken>` (401 otherwise);
an unknown pass type or serial is 404; a device id or push token of the wrong shape is 400.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from app.auth import service as auth_service
from app.auth.tokens import TokenInvalid
from app.errors import DomainError, Forbidden, InvalidInput, NotFound
from app.graphql.context import Services
from app.wallet import apple
from app.wallet import service as wallet_service

log = logging.getLogger("app.wallet")

MAX_LOG_MESSAGES = 50
MAX_BODY_BYTES = 64 * 1024


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _error(error: DomainError) -> Response:
    if isinstance(error, Forbidden):
        return JSONResponse(
            {"error": error.message}, status_code=401, headers={"www-authenticate": "ApplePass"}
        )
    status = 404 if isinstance(error, NotFound) else 400
    return JSONResponse({"error": error.message, "field": error.field}, status_code=status)


def _apple_pass_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "applepass" or not token.strip():
        return None
    return token.strip()


def _http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.UTC), usegmt=True)


def _not_modified_since(request: Request, modified: dt.datetime) -> bool:
    header = request.headers.get("if-modified-since")
    if not header:
        return False
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return modified <= since


def _pass_response(
    request: Request, pass_file: wallet_service.PassFile | None, modified: dt.datetime
) -> Response:
    headers = {"last-modified": _http_date(modified), "cache-control": "no-cache"}
    if pass_file is None:  # HEAD
        return Response(status_code=200, media_type=apple.MEDIA_TYPE, headers=headers)
    return Response(pass_file.content, media_type=apple.MEDIA_TYPE, headers=headers)


async def _read_json(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput("The body is too large.")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not JSON.") from None


# -- the member's download ---------------------------------------------------------------------------


async def member_pass(request: Request) -> Response:
    """GET /wallet/pass.pkpass with the member's `Authorization: Bearer <accessToken>`."""
    services = _services(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    challenge = {"www-authenticate": 'Bearer realm="wallet"'}
    if scheme.lower() != "bearer" or not token.strip():
        return JSONResponse(
            {"error": "Send the member's access token: Authorization: Bearer <accessToken>."},
            status_code=401,
            headers=challenge,
        )
    try:
        actor = await auth_service.actor_for_token(
            services.db, services.settings, services.clock, token.strip()
        )
    except TokenInvalid:
        return JSONResponse(
            {"error": "The access token is invalid or has expired."},
            status_code=401,
            headers=challenge,
        )
    try:
        pass_file = await wallet_service.member_pass_file(
            services.db, actor, services.clock, services.settings
        )
    except Forbidden as error:
        return JSONResponse({"error": error.message}, status_code=403)
    except DomainError as error:
        return _error(error)
    response = _pass_response(request, pass_file, pass_file.last_modified)
    response.headers["content-disposition"] = 'attachment; filename="card.pkpass"'
    return response


async def image(request: Request) -> Response:
    """GET /wallet/images/{name}: the card's images (Google's class points at the logo)."""
    name = request.path_params["name"]
    images = apple.images()
    if name not in images:
        return JSONResponse({"error": "No such image."}, status_code=404)
    return Response(
        images[name], media_type="image/png", headers={"cache-control": "public, max-age=86400"}
    )


# -- the PassKit web service -----------------------------------------------------------------------


async def registration(request: Request) -> Response:
    """POST (register) and DELETE (unregister) of a device for a pass's updates."""
    services = _services(request)
    params = request.path_params
    try:
        if request.method == "DELETE":
            await wallet_service.unregister_device(
                services.db,
                services.settings,
                device_id=params["device"],
                type_id=params["pass_type"],
                serial=params["serial"],
                token=_apple_pass_token(request),
            )
            return Response(status_code=200)
        wallet_service.check_device_id(params["device"])
        body = await _read_json(request)
        push_token = body.get("pushToken") if isinstance(body, dict) else None
        created = await wallet_service.register_device(
            services.db,
            services.settings,
            services.clock,
            device_id=params["device"],
            type_id=params["pass_type"],
            serial=params["serial"],
            token=_apple_pass_token(request),
            push_token=push_token,
        )
    except DomainError as error:
        return _error(error)
    return Response(status_code=201 if created else 200)


async def updated_serials(request: Request) -> Response:
    """GET the serial numbers of the device's passes updated since `passesUpdatedSince`."""
    services = _services(request)
    try:
        found = await wallet_service.updated_serials(
            services.db,
            services.settings,
            device_id=request.path_params["device"],
            type_id=request.path_params["pass_type"],
            since=request.query_params.get("passesUpdatedSince"),
        )
    except DomainError as error:
        return _error(error)
    if found is None:
        return Response(status_code=204)
    return JSONResponse({"serialNumbers": found.serial_numbers, "lastUpdated": found.last_updated})


async def latest_pass(request: Request) -> Response:
    """GET (and HEAD) the latest version of a pass; 304 when not modified since the device's."""
    services = _services(request)
    try:
        wallet_pass = await wallet_service.device_pass(
            services.db,
            services.settings,
            type_id=request.path_params["pass_type"],
            serial=request.path_params["serial"],
            token=_apple_pass_token(request),
        )
    except DomainError as error:
        return _error(error)
    if _not_modified_since(request, wallet_pass.updated_at):
        return Response(
            status_code=304, headers={"last-modified": _http_date(wallet_pass.updated_at)}
        )
    if request.method == "HEAD":
        return _pass_response(request, None, wallet_pass.updated_at)
    pass_file = await wallet_service.render_pass(
        services.db, services.settings, services.clock, wallet_pass
    )
    return _pass_response(request, pass_file, pass_file.last_modified)


async def device_log(request: Request) -> Response:
    """POST /v1/log: messages Wallet could not act on (a bad pass, a failed request)."""
    try:
        body = await _read_json(request)
    except DomainError as error:
        return _error(error)
    logs = body.get("logs") if isinstance(body, dict) else None
    if not isinstance(logs, list):
        return JSONResponse({"error": 'Send {"logs": ["..."]}.'}, status_code=400)
    for message in logs[:MAX_LOG_MESSAGES]:
        log.warning("wallet device log: %s", str(message)[:500].replace("\n", " "))
    return Response(status_code=200)


def routes() -> list[BaseRoute]:
    """The routes under `/wallet` (mounted by create_app)."""
    device = "/v1/devices/{device}/registrations/{pass_type}"
    return [
        Route("/pass.pkpass", member_pass, methods=["GET"]),
        Route("/images/{name}", image, methods=["GET"]),
        Route(device + "/{serial}", registration, methods=["POST", "DELETE"]),
        Route(device, updated_serials, methods=["GET"]),
        Route("/v1/passes/{pass_type}/{serial}", latest_pass, methods=["GET", "HEAD"]),
        Route("/v1/log", device_log, methods=["POST"]),
    ]
