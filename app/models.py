"""Every domain's tables, imported once, so that the metadata is complete (alembic, tests)."""

from sqlmodel import SQLModel

from app.auth import models as auth_models
from app.checkout import models as checkout_models
from app.idempotency import models as idempotency_models
from app.ledger import models as ledger_models
from app.members import models as members_models
from app.notifications import models as notifications_models
from app.offers import models as offers_models
from app.outbox import models as outbox_models
from app.program import models as program_models
from app.referrals import models as referrals_models
from app.rewards import models as rewards_models
from app.staff import models as staff_models
from app.stats import models as stats_models
from app.stores import models as stores_models
from app.wallet import models as wallet_models
from app.webhooks import models as webhooks_models

metadata = SQLModel.metadata

__all__ = [
    "auth_models",
    "checkout_models",
    "idempotency_models",
    "ledger_models",
    "members_models",
    "metadata",
    "notifications_models",
    "offers_models",
    "outbox_models",
    "program_models",
    "referrals_models",
    "rewards_models",
    "staff_models",
    "stats_models",
    "stores_models",
    "wallet_models",
    "webhooks_models",
]
