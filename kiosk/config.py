"""The kiosk's configuration file (TOML), validated as a whole up front.

Besides where the hub and broker are, it holds what a hall tailors: how
long the kiosk waits before it returns home, whether an on-screen keyboard
allows free text, the session limits, and the preset rating reasons and
complaint categories a citizen picks from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, model_validator

from device_agent.config import OutboxSettings, outbox_table
from device_agent.configfile import (
    Bool,
    FilePath,
    Float,
    Id,
    Int,
    Problems,
    Secret,
    Str,
    TimeZone,
    between,
    checked,
    cross_check,
    document,
    empty_means,
    load_toml,
    matching,
    one_of,
    repeats,
    secret_field,
    secret_from_file_or_env,
    section,
    validate,
)
from device_agent.mqtt import BrokerSettings
from device_agent.protocol import CODE
from device_agent.topics import DEFAULT_BASE

LANGUAGES = ("zh-CN", "en")


@section
class Choice:
    """A preset a citizen taps instead of typing: its code and its label per language."""

    code: Annotated[Str, matching(CODE)]
    zh: Str
    en: Str = ""  # "": the Chinese label

    @model_validator(mode="after")
    def _english(self) -> Self:
        if not self.en:
            object.__setattr__(self, "en", self.zh)
        return self

    def label(self, language: str) -> str:
        """The label in ``language``."""
        return self.en if language == "en" else self.zh


DEFAULT_REASONS = (
    Choice("patient", "耐心细致", "Patient and careful"),
    Choice("quick", "办事快捷", "Quick"),
    Choice("clear", "讲解清楚", "Explained clearly"),
    Choice("long-wait", "等候时间长", "Long wait"),
    Choice("unclear", "解释不清楚", "Unclear explanations"),
    Choice("rude", "态度生硬", "Unfriendly manner"),
    Choice("extra-trips", "让我多跑路", "Made me come back again"),
)
DEFAULT_CATEGORIES = (
    Choice("attitude", "服务态度", "Service attitude"),
    Choice("efficiency", "办事效率", "Efficiency"),
    Choice("conduct", "工作作风与廉洁", "Conduct and integrity"),
    Choice("facilities", "环境与设施", "Premises and facilities"),
    Choice("other", "其他问题", "Something else"),
)
DEFAULT_DETAILS = (
    Choice("long-wait", "等候时间过长", "Waited too long"),
    Choice("extra-trips", "多次往返仍未办成", "Came several times, still not done"),
    Choice("passed-around", "推诿扯皮", "Passed from desk to desk"),
    Choice("rude", "态度生硬冷漠", "Treated coldly"),
    Choice("unclear-materials", "所需材料说不清", "Nobody could say what to bring"),
    Choice("overdue", "超过承诺时限", "Past the promised time limit"),
    Choice("favours", "索要好处", "Asked for favours"),
)


def _url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// address such as http://192.168.50.10:8080"
    return None


@section
class HttpSettings:
    """Where the kiosk's web app listens (its own browser, on the same machine)."""

    host: Str = "127.0.0.1"
    port: Annotated[Int, between(0, 65535)] = 8090
    threads: Annotated[Int, between(1, 64)] = 4
    # The kiosk browser talks to the app over loopback: a Secure cookie is
    # only worth having when the app is served over TLS from elsewhere.
    cookie_secure: Bool = False


@section
class SessionLimits:
    """What one citizen's session may submit, and the kiosk as a whole per minute."""

    votes_per_session: Annotated[Int, between(1, 100)] = 3
    complaints_per_session: Annotated[Int, between(1, 100)] = 1
    lookups_per_session: Annotated[Int, between(1, 100)] = 5
    submissions_per_minute: Annotated[Int, between(1, 10_000)] = 20


def _unique_codes(key: str) -> Any:
    """A check that the choices at ``key`` of a table name each code once."""

    def check(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
        for i, code in repeats(data.get(key), "code"):
            problems.add(f"{key}[{i}].code", f"duplicate code {code!r}")

    return check


@section
class RatingSection:
    """The ``[rating]`` table: the reasons a citizen picks from."""

    reasons: Annotated[tuple[Choice, ...], empty_means(DEFAULT_REASONS)] = DEFAULT_REASONS

    _cross = cross_check(_unique_codes("reasons"))


def _complaint_problems(data: dict[str, Any], problems: Problems, info: ValidationInfo) -> None:
    _unique_codes("categories")(data, problems, info)
    _unique_codes("details")(data, problems, info)


@section
class ComplaintsSection:
    """The ``[complaints]`` table: the categories and details of a complaint."""

    categories: Annotated[tuple[Choice, ...], empty_means(DEFAULT_CATEGORIES)] = DEFAULT_CATEGORIES
    details: Annotated[tuple[Choice, ...], empty_means(DEFAULT_DETAILS)] = DEFAULT_DETAILS

    _cross = cross_check(_complaint_problems)


@section
class KioskSection:
    """The ``[kiosk]`` table: which kiosk, where its hub is, and what a hall tailors."""

    id: Id
    hall: Id
    hub_url: Annotated[Str, checked(_url_problem)]
    data_dir: FilePath = Field(default="kiosk-data", validate_default=True)
    base_topic: Str = DEFAULT_BASE
    timezone: TimeZone = "Asia/Shanghai"
    sync_interval_s: Annotated[Float, between(5, 86400)] = 300.0
    idle_reset_s: Annotated[Float, between(1, 3600)] = 90.0
    thanks_s: Annotated[Float, between(1, 600)] = 15.0
    language: Annotated[Str, one_of(*LANGUAGES)] = "zh-CN"
    elderly: Bool = False
    keyboard: Bool = False
    # Read from secret_key_file or secret_key_env, never from the file itself.
    secret_key: secret_field("secret_key") = None  # type: ignore[valid-type]
    secret_key_file: Str = ""
    secret_key_env: Str = ""

    _secret = secret_from_file_or_env("secret_key")


@document
class KioskFile:
    """A kiosk's configuration file, table by table."""

    kiosk: KioskSection = Field(default_factory=dict, validate_default=True)
    outbox: OutboxSettings
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    limits: SessionLimits = field(default_factory=SessionLimits)
    rating: RatingSection = field(default_factory=RatingSection)
    complaints: ComplaintsSection = field(default_factory=ComplaintsSection)


@dataclass(frozen=True, slots=True)
class KioskConfig:
    """Everything one kiosk needs to run."""

    device: str
    hall: str
    hub_url: str
    data_dir: Path
    outbox: OutboxSettings
    broker: BrokerSettings
    http: HttpSettings
    limits: SessionLimits
    base_topic: str
    timezone: str
    sync_interval_s: float
    idle_reset_s: float
    thanks_s: float
    language: str
    elderly: bool
    keyboard: bool
    secret_key: Secret | None
    reasons: tuple[Choice, ...]
    categories: tuple[Choice, ...]
    details: tuple[Choice, ...]
    source: Path | None = None


def load_kiosk_config(path: str | Path) -> KioskConfig:
    """Load and validate a kiosk configuration file; raises ConfigError listing every problem."""
    path = Path(path)
    data = load_toml(path)
    kiosk = data.get("kiosk")
    data_dir = kiosk.get("data_dir", "kiosk-data") if isinstance(kiosk, dict) else "kiosk-data"
    default_outbox = f"{data_dir if isinstance(data_dir, str) else 'kiosk-data'}/outbox.sqlite"
    checked = validate(KioskFile, outbox_table(data, default_outbox), path)
    k = checked.kiosk
    return KioskConfig(
        device=k.id,
        hall=k.hall,
        hub_url=k.hub_url.rstrip("/"),
        data_dir=k.data_dir,
        outbox=checked.outbox,
        broker=checked.broker,
        http=checked.http,
        limits=checked.limits,
        base_topic=k.base_topic,
        timezone=k.timezone,
        sync_interval_s=k.sync_interval_s,
        idle_reset_s=k.idle_reset_s,
        thanks_s=k.thanks_s,
        language=k.language,
        elderly=k.elderly,
        keyboard=k.keyboard,
        secret_key=k.secret_key,
        reasons=checked.rating.reasons,
        categories=checked.complaints.categories,
        details=checked.complaints.details,
        source=path,
    )
