"""The kiosk's configuration file (TOML), validated as a whole up front.

Besides where the hub and broker are, it holds what a hall tailors: how
long the kiosk waits before it returns home, whether an on-screen keyboard
allows free text, the session limits, and the preset rating reasons and
complaint categories a citizen picks from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from device_agent.config import OutboxSettings, read_outbox
from device_agent.configfile import ConfigReader, Secret, in_range, one_of
from device_agent.mqtt import BrokerSettings, read_broker
from device_agent.protocol import CODE
from device_agent.topics import DEFAULT_BASE, ID_PATTERN

LANGUAGES = ("zh-CN", "en")


@dataclass(frozen=True, slots=True)
class Choice:
    """A preset a citizen taps instead of typing: its code and its label per language."""

    code: str
    zh: str
    en: str

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


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the kiosk's web app listens (its own browser, on the same machine)."""

    host: str = "127.0.0.1"
    port: int = 8090
    threads: int = 4
    # The kiosk browser talks to the app over loopback: a Secure cookie is
    # only worth having when the app is served over TLS from elsewhere.
    cookie_secure: bool = False


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """What one citizen's session may submit, and the kiosk as a whole per minute."""

    votes_per_session: int = 3
    complaints_per_session: int = 1
    lookups_per_session: int = 5
    submissions_per_minute: int = 20


@dataclass(frozen=True, slots=True)
class KioskConfig:
    """Everything one kiosk needs to run."""

    device: str
    hall: str
    hub_url: str
    data_dir: Path
    outbox: OutboxSettings
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    limits: SessionLimits = field(default_factory=SessionLimits)
    base_topic: str = DEFAULT_BASE
    timezone: str = "Asia/Shanghai"
    sync_interval_s: float = 300.0
    idle_reset_s: float = 90.0
    thanks_s: float = 15.0
    language: str = "zh-CN"
    elderly: bool = False
    keyboard: bool = False
    secret_key: Secret | None = None
    reasons: tuple[Choice, ...] = DEFAULT_REASONS
    categories: tuple[Choice, ...] = DEFAULT_CATEGORIES
    details: tuple[Choice, ...] = DEFAULT_DETAILS
    source: Path | None = None


KIOSK_KEYS = (
    "id",
    "hall",
    "base_topic",
    "hub_url",
    "data_dir",
    "timezone",
    "sync_interval_s",
    "idle_reset_s",
    "thanks_s",
    "language",
    "elderly",
    "keyboard",
    "secret_key",
    "secret_key_file",
    "secret_key_env",
)


def _id_check(value: str) -> str | None:
    return None if ID_PATTERN.fullmatch(value) else f"must match {ID_PATTERN.pattern}"


def _url_check(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// address such as http://192.168.50.10:8080"
    return None


def _zone_check(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def read_kiosk_config(reader: ConfigReader) -> KioskConfig:
    """Read a kiosk configuration, recording every problem in ``reader``."""
    reader.reject_unknown(
        "", ("kiosk", "http", "limits", "broker", "outbox", "rating", "complaints")
    )
    reader.reject_unknown("kiosk", KIOSK_KEYS)
    reader.reject_unknown("http", ("host", "port", "threads", "cookie_secure"))
    reader.reject_unknown("limits", [f.name for f in fields(SessionLimits)])
    reader.reject_unknown("rating", ("reasons",))
    reader.reject_unknown("complaints", ("categories", "details"))
    device = reader.get("kiosk.id", str, check=_id_check)
    data_dir = reader.path_value("kiosk.data_dir", default="kiosk-data")
    default_outbox = str(data_dir / "outbox.sqlite")
    return KioskConfig(
        device=device,
        hall=reader.get("kiosk.hall", str, check=_id_check),
        hub_url=reader.get("kiosk.hub_url", str, check=_url_check).rstrip("/"),
        data_dir=data_dir,
        base_topic=reader.get("kiosk.base_topic", str, default=DEFAULT_BASE),
        timezone=reader.get("kiosk.timezone", str, default="Asia/Shanghai", check=_zone_check),
        sync_interval_s=reader.get(
            "kiosk.sync_interval_s", float, default=300.0, check=in_range(5, 86400)
        ),
        idle_reset_s=reader.get("kiosk.idle_reset_s", float, default=90.0, check=in_range(1, 3600)),
        thanks_s=reader.get("kiosk.thanks_s", float, default=15.0, check=in_range(1, 600)),
        language=reader.get("kiosk.language", str, default="zh-CN", check=one_of(*LANGUAGES)),
        elderly=reader.get("kiosk.elderly", bool, default=False),
        keyboard=reader.get("kiosk.keyboard", bool, default=False),
        secret_key=reader.secret("kiosk", "secret_key"),
        broker=read_broker(reader),
        outbox=read_outbox(reader, default_path=default_outbox),
        http=HttpSettings(
            host=reader.get("http.host", str, default="127.0.0.1"),
            port=reader.get("http.port", int, default=8090, check=in_range(0, 65535)),
            threads=reader.get("http.threads", int, default=4, check=in_range(1, 64)),
            cookie_secure=reader.get("http.cookie_secure", bool, default=False),
        ),
        limits=SessionLimits(
            votes_per_session=reader.get(
                "limits.votes_per_session", int, default=3, check=in_range(1, 100)
            ),
            complaints_per_session=reader.get(
                "limits.complaints_per_session", int, default=1, check=in_range(1, 100)
            ),
            lookups_per_session=reader.get(
                "limits.lookups_per_session", int, default=5, check=in_range(1, 100)
            ),
            submissions_per_minute=reader.get(
                "limits.submissions_per_minute", int, default=20, check=in_range(1, 10_000)
            ),
        ),
        reasons=_choices(reader, "rating.reasons", DEFAULT_REASONS),
        categories=_choices(reader, "complaints.categories", DEFAULT_CATEGORIES),
        details=_choices(reader, "complaints.details", DEFAULT_DETAILS),
        source=reader.path,
    )


def _choices(reader: ConfigReader, key: str, default: tuple[Choice, ...]) -> tuple[Choice, ...]:
    """An array of ``{code, zh, en}`` tables, or the defaults when absent."""
    items = reader.items(key)
    if not items:
        return default
    choices: dict[str, Choice] = {}
    for i, item in enumerate(items):
        item.reject_unknown("", ("code", "zh", "en"))
        code = item.get(
            "code", str, check=lambda v: None if CODE.fullmatch(v) else f"must match {CODE.pattern}"
        )
        zh = item.get("zh", str)
        choice = Choice(code, zh, item.get("en", str, default=zh))
        if code in choices:
            reader.problem(f"{key}[{i}].code", f"duplicate code {code!r}")
        choices[code] = choice
    return tuple(choices.values())


def load_kiosk_config(path: str | Path) -> KioskConfig:
    """Load and validate a kiosk configuration file; raises ConfigError listing every problem."""
    reader = ConfigReader(path)
    config = read_kiosk_config(reader)
    reader.finish()
    return config
