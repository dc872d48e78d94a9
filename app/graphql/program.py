"""The program's rules: read by everyone, changed by admins."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import strawberry

from app.errors import InvalidInput
from app.graphql.errors import ConflictError, InvalidInputError, NotFoundError, user_errors
from app.graphql.permissions import IsAdmin
from app.kit.money import Money as DomainMoney
from app.program import rules as program_rules
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.tiers import service as tiers_service


@strawberry.type(description="An amount in the currency's minor units (cents), never a float.")
class Money:
    amount: int
    currency: str

    @classmethod
    def of(cls, money: DomainMoney) -> Money:
        return cls(amount=money.amount, currency=money.currency)


@strawberry.input
class MoneyInput:
    amount: int
    currency: str


@strawberry.type
class Tier:
    code: str
    name: str
    qualifying_threshold: int
    earn_multiplier: Decimal = strawberry.field(description="1.25 earns 25 % more; exact.")
    benefits: list[str]
    early_access_days: int = strawberry.field(
        description="Offers open to this tier this many days before their start; 0: none."
    )

    @classmethod
    def of(cls, tier: program_rules.Tier) -> Tier:
        return cls(
            code=tier.code,
            name=tier.name,
            qualifying_threshold=tier.threshold,
            earn_multiplier=tier.earn_multiplier,
            benefits=list(tier.benefits),
            early_access_days=tier.early_access_days,
        )


@strawberry.type
class EarnRate:
    points: int
    per: Money


@strawberry.type
class RedemptionRules:
    min_points: int
    max_percent_of_total: int


@strawberry.type
class CategoryRule:
    category: str
    multiplier_percent: int = strawberry.field(description="100 = the base rate; 0 earns nothing.")


@strawberry.type
class Program:
    version: int
    name: str
    currency: str
    earn_rate: EarnRate
    point_value: Money = strawberry.field(
        description="What `pointValuePoints` points pay at the till: a point's value where a point "
        "is worth whole minor units (1 cent when 100 points are worth 1.00)."
    )
    point_value_points: int = strawberry.field(
        description="The fewest points worth whole minor units: 1 in most programs, 100 when 100 "
        "points are worth ¥1."
    )
    redemption: RedemptionRules
    pending_days: int
    expiry_days: int
    tier_window_days: int
    tiers: list[Tier]
    category_rules: list[CategoryRule]
    referral_points: int
    referral_min_purchase: Money
    referral_monthly_cap: int
    birthday_points: int

    @classmethod
    def of(cls, rules: ProgramRules) -> Program:
        def money(amount: int) -> Money:
            return Money(amount=amount, currency=rules.currency)

        return cls(
            version=rules.version,
            name=rules.name,
            currency=rules.currency,
            earn_rate=EarnRate(points=rules.earn_points, per=money(rules.earn_per_amount)),
            point_value=money(rules.point_value_unit[1]),
            point_value_points=rules.point_value_unit[0],
            redemption=RedemptionRules(
                min_points=rules.redeem_min_points, max_percent_of_total=rules.redeem_max_percent
            ),
            pending_days=rules.pending_days,
            expiry_days=rules.expiry_days,
            tier_window_days=rules.tier_window_days,
            tiers=[Tier.of(tier) for tier in rules.tiers],
            category_rules=[
                CategoryRule(category=name, multiplier_percent=rule.multiplier_percent)
                for name, rule in sorted(rules.category_rules.items())
            ],
            referral_points=rules.referral_points,
            referral_min_purchase=money(rules.referral_min_purchase),
            referral_monthly_cap=rules.referral_monthly_cap,
            birthday_points=rules.birthday_points,
        )


@strawberry.input
class CategoryRuleInput:
    category: str
    multiplier_percent: int


@strawberry.input(description="Only the fields given change; the others keep their values.")
class UpdateProgramInput:
    name: str | None = None
    earn_points: int | None = None
    earn_per: MoneyInput | None = None
    point_value_points: int | None = None
    point_value: MoneyInput | None = None
    redeem_min_points: int | None = None
    redeem_max_percent: int | None = None
    pending_days: int | None = None
    expiry_days: int | None = None
    tier_window_days: int | None = None
    category_rules: list[CategoryRuleInput] | None = None
    referral_points: int | None = None
    referral_min_purchase: MoneyInput | None = None
    referral_monthly_cap: int | None = None
    birthday_points: int | None = None


@strawberry.input
class SetTierInput:
    code: str
    name: str
    qualifying_threshold: int
    earn_multiplier: Decimal
    benefits: list[str] = strawberry.field(default_factory=list)
    early_access_days: int = strawberry.field(
        default=0, description="Offers open to this tier this many days early: 0 to 90."
    )


UpdateProgramResult = Annotated[
    Program | InvalidInputError | ConflictError, strawberry.union("UpdateProgramResult")
]
SetTierResult = Annotated[
    Program | InvalidInputError | ConflictError, strawberry.union("SetTierResult")
]
RemoveTierResult = Annotated[
    Program | NotFoundError | ConflictError | InvalidInputError,
    strawberry.union("RemoveTierResult"),
]


def _amount(value: MoneyInput, currency: str, field: str) -> int:
    if value.currency != currency:
        raise InvalidInput(f"The program's currency is {currency}.", field=field)
    return value.amount


def _changes(data: UpdateProgramInput, currency: str) -> dict[str, object]:
    changes: dict[str, object] = {}
    for name in (
        "name", "earn_points", "point_value_points", "redeem_min_points", "redeem_max_percent",
        "pending_days", "expiry_days", "tier_window_days", "referral_points",
        "referral_monthly_cap", "birthday_points",
    ):  # fmt: skip
        value = getattr(data, name)
        if value is not None:
            changes[name] = value
    if data.earn_per is not None:
        changes["earn_per_amount"] = _amount(data.earn_per, currency, "earnPer")
    if data.point_value is not None:
        changes["point_value_amount"] = _amount(data.point_value, currency, "pointValue")
    if data.referral_min_purchase is not None:
        changes["referral_min_purchase"] = _amount(
            data.referral_min_purchase, currency, "referralMinPurchase"
        )
    if data.category_rules is not None:
        changes["category_rules"] = {
            rule.category.strip().lower(): program_rules.CategoryRule(rule.multiplier_percent)
            for rule in data.category_rules
        }
    return changes


def _multiplier_percent(value: Decimal) -> int:
    try:
        percent = value * 100
        if percent != percent.to_integral_value():
            raise InvalidOperation
        return int(percent)
    except (InvalidOperation, ValueError):
        raise InvalidInput(
            "Give the multiplier with at most two decimals, like 1.25.", field="earnMultiplier"
        ) from None


@strawberry.type
class ProgramQuery:
    @strawberry.field(description="The program's current rules. Public.")
    async def program(self, info: strawberry.Info) -> Program:
        return Program.of(await info.context.rules())


@strawberry.type
class ProgramMutation:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Change the program's rules.")
    @user_errors
    async def update_program(
        self, info: strawberry.Info, input: UpdateProgramInput
    ) -> UpdateProgramResult:
        ctx = info.context
        current = await ctx.rules()
        rules = await program_service.update_program(
            ctx.db, ctx.actor, ctx.clock, _changes(input, current.currency)
        )
        ctx.services.rules_cache.clear()
        return Program.of(rules)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a tier or change one.")
    @user_errors
    async def set_tier(self, info: strawberry.Info, input: SetTierInput) -> SetTierResult:
        ctx = info.context
        tier = program_rules.Tier(
            code=input.code.strip().upper(),
            name=input.name.strip(),
            threshold=input.qualifying_threshold,
            multiplier_percent=_multiplier_percent(input.earn_multiplier),
            benefits=tuple(b.strip() for b in input.benefits),
            early_access_days=input.early_access_days,
        )
        rules = await program_service.set_tier(ctx.db, ctx.actor, ctx.clock, tier)
        ctx.services.rules_cache.clear()
        return Program.of(rules)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Remove a tier nobody holds.")
    @user_errors
    async def remove_tier(self, info: strawberry.Info, code: str) -> RemoveTierResult:
        ctx = info.context
        rules = await tiers_service.remove_tier(ctx.db, ctx.actor, ctx.clock, code.strip().upper())
        ctx.services.rules_cache.clear()
        return Program.of(rules)
