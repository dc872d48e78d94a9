"""Offers: created by admins, listed to each member ranked by fit, activated by members, applied
at the till (the arithmetic is the till's: `app.checkout.rules.quote`), each use recorded."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, MemberActor, require_admin
from app.checkout import rules as till
from app.checkout import service as checkout_service
from app.clock import Clock
from app.db import Database
from app.errors import Forbidden, InvalidInput, OfferExpired, OfferNotEligible, OfferNotFound
from app.kit import pagination
from app.kit.ids import parse_id
from app.kit.pagination import Page
from app.ledger import service as ledger_service
from app.ledger.models import Account, EntryKind
from app.members import service as members_service
from app.members.models import AnyMember
from app.offers import rules as offer_rules
from app.offers.models import Audience, Offer, OfferActivation, OfferUse
from app.offers.rules import MemberFacts, NewOffer, Unavailable
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.stores import service as stores_service

in_rollout = offer_rules.in_rollout


@dataclass(frozen=True, slots=True)
class MemberOffer:
    offer: Offer
    activated: bool
    reason: str


@dataclass(frozen=True, slots=True)
class LiveOffer:
    offer: Offer
    activated: bool
    uses: int


def _max_early_days(rules: ProgramRules) -> int:
    return max((tier.early_access_days for tier in rules.tiers), default=0)


class OffersCache:
    """The offers not yet ended, kept for `ttl_seconds` per process: the till asks on every scan
    and purchase, and most of the time none is open, which the cache answers without a query.
    Creating an offer clears it in the process that made it; the others see the new offer
    within `ttl_seconds` (as with the program's rules)."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._offers: list[Offer] | None = None
        self._until = 0.0

    def fresh(self) -> list[Offer] | None:
        return self._offers if time.monotonic() < self._until else None

    def put(self, offers: list[Offer]) -> None:
        self._offers = offers
        self._until = time.monotonic() + self.ttl_seconds

    def clear(self) -> None:
        self._offers = None
        self._until = 0.0


async def _none_open(
    session: AsyncSession, cache: OffersCache, *, now: dt.datetime, opening: dt.datetime
) -> bool:
    """No offer is open now (or early to some tier), by the cached offers not yet ended."""
    offers = cache.fresh()
    if offers is None:
        rows = await session.scalars(
            select(Offer).where(or_(col(Offer.ends_at).is_(None), col(Offer.ends_at) > now))
        )
        offers = list(rows.all())
        cache.put(offers)
    return not any(
        (offer.ends_at is None or offer.ends_at > now)
        and (offer.starts_at is None or offer.starts_at <= opening)
        for offer in offers
    )


async def live_offers(
    session: AsyncSession,
    rules: ProgramRules,
    *,
    member_id: uuid.UUID,
    now: dt.datetime,
    cache: OffersCache | None = None,
) -> list[LiveOffer]:
    """Every offer open now (or open early to some tier), with this member's activation and
    number of uses, in one query (ix_offers_ends_at; the member's rows by their keys); none when
    the process's cache, if given, knows that no offer is open."""
    opening = now + dt.timedelta(days=_max_early_days(rules))
    if cache is not None and await _none_open(session, cache, now=now, opening=opening):
        return []
    uses = (
        select(func.count())
        .select_from(OfferUse)
        .where(col(OfferUse.member_id) == member_id, col(OfferUse.offer_id) == col(Offer.id))
        .correlate(Offer)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Offer, col(OfferActivation.activated_at), uses)
        .outerjoin(
            OfferActivation,
            and_(
                col(OfferActivation.offer_id) == col(Offer.id),
                col(OfferActivation.member_id) == member_id,
            ),
        )
        .where(
            or_(col(Offer.ends_at).is_(None), col(Offer.ends_at) > now),
            or_(col(Offer.starts_at).is_(None), col(Offer.starts_at) <= opening),
        )
        .order_by(col(Offer.created_at), col(Offer.id))
    )
    return [LiveOffer(offer, activated is not None, int(count)) for offer, activated, count in rows]


def _facts(
    rules: ProgramRules,
    *,
    member: AnyMember | None,
    member_id: uuid.UUID,
    tier_code: str,
    live: Sequence[LiveOffer],
    last_purchase_at: dt.datetime | None,
) -> MemberFacts:
    tier = rules.tier(tier_code)
    return MemberFacts(
        member_id=member_id,
        tier_code=tier_code,
        early_access_days=tier.early_access_days if tier else 0,
        joined_at=member.created_at if member else dt.datetime.min.replace(tzinfo=dt.UTC),
        birth_date=member.birth_date if member else None,
        last_purchase_at=last_purchase_at,
        activated=frozenset(item.offer.id for item in live if item.activated),
        uses={item.offer.id: item.uses for item in live},
    )


async def _last_purchase_at(
    session: AsyncSession, member_id: uuid.UUID, *, now: dt.datetime
) -> dt.datetime | None:
    """The member's last purchase in the win-back window (older ones do not matter)."""
    since = now - dt.timedelta(days=offer_rules.WIN_BACK_DAYS)
    history = await checkout_service.spend_history(session, member_id, since=since)
    return max((at for at, _, _ in history), default=None)


# -- reads -----------------------------------------------------------------------------------------


async def list_member_offers(
    session: AsyncSession,
    rules: ProgramRules,
    *,
    member: AnyMember,
    tier_code: str,
    now: dt.datetime,
    first: int,
    after: str | None,
    cache: OffersCache | None = None,
) -> Page[MemberOffer]:
    """The offers this member may use now, best fit first, each with the reason it is shown.
    Keyset-paginated on (score, created_at, id): the eligible offers of one moment are few, so
    they are ranked in full and the page cut after the cursor's key."""
    pagination.check_first(first)
    key = offer_rules.decode_rank_cursor(after) if after is not None else None
    live = await live_offers(session, rules, member_id=member.id, now=now, cache=cache)
    if not live:  # nothing to rank: spare the history query (the till's scan asks too)
        return Page(items=[], cursors=[], has_next=False)
    since = now - dt.timedelta(days=offer_rules.HISTORY_DAYS)
    history = [
        offer_rules.Spend(at, category, amount)
        for at, category, amount in await checkout_service.spend_history(
            session, member.id, since=since
        )
    ]
    facts = _facts(
        rules, member=member, member_id=member.id, tier_code=tier_code, live=live,
        last_purchase_at=max((spend.at for spend in history), default=None),
    )  # fmt: skip
    shares = offer_rules.affinity(history, now=now)
    ranked = offer_rules.rank([item.offer for item in live], facts, shares, rules, now=now)
    if key is not None:
        ranked = [item for item in ranked if offer_rules.rank_key(item) > key]
    page = ranked[:first]
    return Page(
        items=[MemberOffer(item.offer, item.activated, item.reason) for item in page],
        cursors=[offer_rules.encode_rank_cursor(item) for item in page],
        has_next=len(ranked) > first,
    )


@dataclass(frozen=True, slots=True)
class PurchaseOffers:
    terms: list[till.OfferTerms]
    uses: dict[uuid.UUID, int]  # the member's uses so far, by offer


async def purchase_offers(
    session: AsyncSession,
    rules: ProgramRules,
    *,
    member_id: uuid.UUID,
    tier_code: str,
    store_id: uuid.UUID,
    now: dt.datetime,
    cache: OffersCache | None = None,
) -> PurchaseOffers:
    """The offers this member may use on a purchase at this store now, as the till's terms.
    One query; more only when an offer is for a member's moment (birthday, return, welcome) or
    for some weekdays or hours (the store's time zone). Called after the account is locked, the
    uses counted are final for the purchase."""
    live = await live_offers(session, rules, member_id=member_id, now=now, cache=cache)
    if not live:
        return PurchaseOffers([], {})
    member = None
    last_purchase_at = None
    if any(item.offer.audience != Audience.EVERYONE for item in live):
        member = await members_service.find_member(session, member_id)
        last_purchase_at = await _last_purchase_at(session, member_id, now=now)
    timezone = "UTC"
    if any(item.offer.weekdays or item.offer.hour_from is not None for item in live):
        timezone = (await stores_service.get_store(session, store_id)).timezone
    facts = _facts(
        rules, member=member, member_id=member_id, tier_code=tier_code, live=live,
        last_purchase_at=last_purchase_at,
    )  # fmt: skip
    terms = [
        till.OfferTerms(
            id=item.offer.id,
            title=item.offer.title,
            kind=item.offer.kind,
            value=item.offer.value,
            categories=frozenset(item.offer.categories),
            min_spend=item.offer.min_spend,
        )
        for item in live
        if offer_rules.usable_at_purchase(
            item.offer, facts, now=now, store_id=store_id, timezone=timezone
        )
    ]
    return PurchaseOffers(terms, {item.offer.id: item.uses for item in live})


async def earn_offers(
    session: AsyncSession,
    account: Account,
    posting: ledger_service.Posting,
    rules: ProgramRules,
    offers: PurchaseOffers,
    applied: Sequence[till.AppliedOffer],
    *,
    purchase_id: uuid.UUID,
    where: str,
) -> None:
    """Building block of the purchase: each applied offer's points as an OFFER entry of its own
    (naming the offer), and one use per applied offer, numbered after the member's earlier
    uses (counted under the account lock; the unique number guards the limit a second time)."""
    for offer in applied:
        entry_id = None
        if offer.points:
            entry = await ledger_service.earn(
                session, account, posting, points=offer.points, kind=EntryKind.OFFER,
                description=f"Offer \"{offer.title}\" at {where}",
                pending_days=rules.pending_days, expiry_days=rules.expiry_days,
                purchase_id=purchase_id,
            )  # fmt: skip
            entry_id = entry.id
        session.add(
            OfferUse(
                member_id=account.member_id,
                offer_id=offer.id,
                seq=offers.uses.get(offer.id, 0) + 1,
                purchase_id=purchase_id,
                entry_id=entry_id,
                points=offer.points,
                discount=offer.discount,
                created_at=posting.now,
            )
        )


# -- use cases -------------------------------------------------------------------------------------


async def create_offer(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    new: NewOffer,
    *,
    cache: OffersCache | None = None,
) -> Offer:
    """An admin creates an offer; every condition is checked, nothing is written on refusal.
    The process's cache of offers, if given, is cleared once it is committed."""
    require_admin(actor)
    now = clock.now()
    async with db.transaction() as session:
        rules = await program_service.current_rules(session)
        offer = offer_rules.check_new_offer(new, rules, now=now)
        if offer.store_ids:
            stores = await _known_stores(session, [uuid.UUID(s) for s in offer.store_ids])
            if len(stores) != len(offer.store_ids):
                raise InvalidInput("One of the stores does not exist.", field="storeIds")
        session.add(offer)
    if cache is not None:
        cache.clear()
    return offer


async def _known_stores(session: AsyncSession, ids: list[uuid.UUID]) -> list[uuid.UUID]:
    return [store.id for store in await stores_service.stores_by_ids(session, ids)]


async def activate_offer(
    db: Database, actor: Actor | None, clock: Clock, raw_offer_id: str
) -> MemberOffer:
    """The member activates an offer they may use. Activating one that needs no activation, or
    one already activated, changes nothing. Unknown, ended or not for this member: refused."""
    if not isinstance(actor, MemberActor):
        raise Forbidden("Only members activate offers.")
    offer_id = parse_id(raw_offer_id)
    if offer_id is None:
        raise OfferNotFound(field="offerId")
    now = clock.now()
    async with db.transaction() as session:
        offer = await session.get(Offer, offer_id)
        if offer is None:
            raise OfferNotFound(field="offerId")
        account = await ledger_service.lock_account(session, actor.member_id)
        rules = await program_service.current_rules(session)
        member = await members_service.find_member(session, actor.member_id)
        activated = await session.get(OfferActivation, (actor.member_id, offer.id))
        uses = await session.scalar(
            select(func.count())
            .select_from(OfferUse)
            .where(col(OfferUse.member_id) == actor.member_id, col(OfferUse.offer_id) == offer.id)
        )
        last_purchase_at = None
        if offer.audience == Audience.WIN_BACK:
            last_purchase_at = await _last_purchase_at(session, actor.member_id, now=now)
        live = [LiveOffer(offer, activated is not None, int(uses or 0))]
        facts = _facts(
            rules, member=member, member_id=actor.member_id,
            tier_code=account.tier_code, live=live, last_purchase_at=last_purchase_at,
        )  # fmt: skip
        why = offer_rules.unavailable(offer, facts, now)
        if why == Unavailable.ENDED:
            raise OfferExpired(field="offerId")
        if why == Unavailable.USED_UP:
            raise OfferNotEligible(
                "You have used this offer as often as it allows.", field="offerId"
            )
        if why is not None:
            raise OfferNotEligible(field="offerId")
        if offer.requires_activation and activated is None:
            session.add(
                OfferActivation(member_id=actor.member_id, offer_id=offer.id, activated_at=now)
            )
        _, reason = offer_rules.explain(offer, facts, {}, rules, now=now)
    return MemberOffer(offer, True, reason)
