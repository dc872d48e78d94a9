# The loyalty service: `loyalty serve` on port 8000.
#
#   docker build -t loyalty .
#   docker run --rm --env-file prod.env loyalty loyalty migrate     # release step, once per deploy
#   docker run -d -p 8000:8000 --env-file prod.env loyalty
#   docker run -d --no-healthcheck --env-file prod.env loyalty loyalty worker   # scheduled jobs
#
# LOYALTY_ENV=production is baked in, so the server refuses to start until DATABASE_URL (a
# PostgreSQL URL), LOYALTY_JWT_KEYS, LOYALTY_JWT_ACTIVE_KID, LOYALTY_MEMBER_CODE_SECRET, an
# https:// PUBLIC_BASE_URL and the Apple Wallet identity (APPLE_PASS_TYPE_ID, APPLE_TEAM_ID, and
# readable APPLE_PASS_CERT, APPLE_PASS_KEY, APPLE_WWDR_CERT files: mount them) are given; the
# README's Configuration lists every check. `serve` does not migrate a PostgreSQL database: run
# `loyalty migrate` (same image, same environment) before starting a new version.
# Behind a reverse proxy, set FORWARDED_ALLOW_IPS to the proxy's address so that uvicorn trusts
# its X-Forwarded-For (login throttling keys on the client address).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOYALTY_ENV=production

WORKDIR /srv/loyalty

# Dependencies first, in their own layer, so that a code change does not reinstall them. They
# are read from pyproject.toml (tomllib is in 3.11's standard library). Every one of them has a
# manylinux wheel, so the slim image needs no compiler.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source. app/migrate.py finds Alembic's scripts at Path(app.__file__).parent.parent /
# "migrations", i.e. next to the `app` package, and migrations/ and schema/ are not part of the
# package. A plain `pip install .` would copy `app` into site-packages and that path would point
# into site-packages, where there is no migrations/. An editable install (`-e`) leaves `app`
# here, in /srv/loyalty, so the `loyalty` command imports /srv/loyalty/app and finds
# /srv/loyalty/migrations wherever it is run from. The tree stays owned by root: the service
# user can read it, not change it.
COPY . .
RUN pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q app migrations \
    && python -c "from app.migrate import MIGRATIONS; assert (MIGRATIONS / 'env.py').is_file(), MIGRATIONS"

RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin loyalty
USER loyalty

EXPOSE 8000

# No curl in slim images: ask /healthz with the standard library. urlopen raises (exit 1) on
# anything but a 2xx, a refused connection or a timeout.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=3)"]

CMD ["loyalty", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
