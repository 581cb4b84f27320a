"""Pick the notification adapter from a config URI; tokens come from credential files, never the URI."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from infra.config import CREDENTIALS_ENV
from infra.notify.base import DEFAULT_TIMEOUT, Notifier
from infra.notify.log import JsonlNotifier, LoggingNotifier, NullNotifier
from infra.notify.sms import HttpSmsNotifier, SmsOptions
from infra.notify.transport import LOOPBACK_HOSTS
from infra.notify.whatsapp import WhatsappNotifier

_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_NAME_SEPARATOR = re.compile(r"[_.-]")
_SECRET_LOOKING = 24  # a value this long without _ . - is taken for a pasted key, not a file name
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: safe in a header
_GRAPH_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)$")
_LANG = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
_TOKEN_IN_URI = re.compile(r"([?&]token=)([^&#]*)")
_USERINFO = re.compile(r"^([^:/?#]+://)[^/?#@]*@")
_MAX_TIMEOUT = 120.0

_WHATSAPP_OPTIONS = {"token", "lang", "timeout"}
_SMS_OPTIONS = {"token", "auth", "format", "to_field", "text_field", "number", "id_field", "timeout"}
_SMS_FIELD_PREFIX = "field."


class _UriError(ValueError):
    """A problem with the URI; open_notifier adds the URI to the message."""


def open_notifier(uri: str, credentials_dir: str | None = None) -> Notifier:
    """Create the notifier for ``uri``; nothing is sent, the token (if any) is read now.

    Forms (timeouts in seconds, for connecting and for each read, default 10):

    - ``none``: sends nothing.
    - ``log://``: logs each message at INFO on the ``infra.notify.log`` logger (phone masked).
    - ``log:///absolute/path/file.jsonl``: appends one JSON line per message, file mode 0600.
    - ``whatsapp://graph.facebook.com/v21.0/<PHONE_NUMBER_ID>?token=<credential>&lang=id&timeout=10``:
      WhatsApp Business Cloud API template messages; ``lang`` defaults to "id".
    - ``sms+https://host/path?token=<credential>&auth=bearer&format=json&to_field=to&text_field=message``
      plus ``number=intl|e164|local``, ``id_field=<dotted path>``, ``timeout`` and constant body
      fields ``field.<name>=<value>``: an HTTP SMS gateway (see infra.notify.sms.SmsOptions).
    - ``whatsapp+http://`` and ``sms+http://``: the same over plain http, only to 127.0.0.1,
      localhost or ::1 (the stand-in), so a token never crosses a network in clear text.

    ``token`` names a file in ``credentials_dir``, or else in ``$CREDENTIALS_DIRECTORY`` (systemd
    ``LoadCredential=``), whose content is the secret. Raises ValueError naming the URI (with a
    token-like value hidden) when it is malformed, the scheme unknown, an option unknown, plain
    http goes to another host, or the credential is missing or empty; the secret is never quoted.
    """
    if not isinstance(uri, str):
        raise ValueError(f"Notifier URI must be a string, got {uri!r}")
    text = uri.strip()
    try:
        if text == "none":
            return NullNotifier()
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme == "log" and text.lower().startswith("log://"):
            return _log(parts)
        if scheme in ("whatsapp", "whatsapp+http"):
            return _whatsapp(parts, scheme, credentials_dir)
        if scheme in ("sms+https", "sms+http"):
            return _sms(parts, scheme, credentials_dir)
    except _UriError as exc:
        raise ValueError(f"Notifier URI {_shown(text)!r} is invalid: {exc}") from None
    except ValueError as exc:  # from urlsplit (a bad port) or an adapter's constructor
        raise ValueError(f"Notifier URI {_shown(text)!r} is invalid: {exc}") from None
    raise ValueError(
        f"Unknown notifier URI {_shown(text)!r}: use none, log://, log:///path, whatsapp://, sms+https:// "
        "(whatsapp+http:// and sms+http:// only to 127.0.0.1)"
    )


def _log(parts: SplitResult) -> Notifier:
    if parts.query or parts.fragment or parts.netloc:
        raise _UriError("expected log:// or log:///absolute/path/file.jsonl")
    path = unquote(parts.path)
    if not path:
        return LoggingNotifier()
    if not path.startswith("/") or path.endswith("/"):
        raise _UriError("expected log:///absolute/path/file.jsonl (a file, not a directory)")
    return JsonlNotifier(path)


def _whatsapp(parts: SplitResult, scheme: str, credentials_dir: str | None) -> Notifier:
    http = scheme == "whatsapp+http"
    host = _host(parts, http)
    match = _GRAPH_PATH.match(parts.path)
    if not match:
        raise _UriError("expected the path /<graph version>/<phone number id>, e.g. /v21.0/1234567890")
    query = _query(parts, _WHATSAPP_OPTIONS)
    lang = query.get("lang", "id")
    if not _LANG.match(lang):
        raise _UriError(f"lang must be a WhatsApp language code such as id or en_US, got {lang!r}")
    return WhatsappNotifier(
        host,
        match.group(1),
        match.group(2),
        _token(query, credentials_dir),
        lang=lang,
        timeout=_timeout(query),
        scheme="http" if http else "https",
    )


def _sms(parts: SplitResult, scheme: str, credentials_dir: str | None) -> Notifier:
    http = scheme == "sms+http"
    host = _host(parts, http)
    query = _query(parts, _SMS_OPTIONS, _SMS_FIELD_PREFIX)
    fields = tuple((k[len(_SMS_FIELD_PREFIX) :], v) for k, v in query.items() if k.startswith(_SMS_FIELD_PREFIX))
    options = SmsOptions(
        to_field=query.get("to_field", "to"),
        text_field=query.get("text_field", "message"),
        format=query.get("format", "json"),
        auth=query.get("auth", "bearer"),
        number=query.get("number", "intl"),
        id_field=query.get("id_field", ""),
        fields=fields,
    )
    url = f"{'http' if http else 'https'}://{host}{parts.path or '/'}"
    return HttpSmsNotifier(url, _token(query, credentials_dir), options, timeout=_timeout(query))


def _host(parts: SplitResult, http: bool) -> str:
    if "@" in parts.netloc:
        raise _UriError("credentials do not belong in the URI: name a credential file with ?token=")
    if not parts.hostname:
        raise _UriError("no host")
    _ = parts.port  # raises ValueError for a port that is not a number
    if http and parts.hostname not in LOOPBACK_HOSTS:
        raise _UriError("plain http is only allowed to 127.0.0.1, localhost or ::1 (a stand-in); use https")
    if parts.fragment:
        raise _UriError("no #fragment expected")
    return parts.netloc


def _query(parts: SplitResult, allowed: set[str], prefix: str = "") -> dict[str, str]:
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _UriError("malformed query string") from None
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise _UriError(f"option {key} given twice")
        query[key] = value
    unknown = sorted(k for k in query if k not in allowed and not (prefix and k.startswith(prefix)))
    if unknown:
        raise _UriError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return query


def _timeout(query: dict[str, str]) -> float:
    raw = query.get("timeout", str(DEFAULT_TIMEOUT))
    try:
        value = float(raw)
    except ValueError:
        raise _UriError(f"timeout must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= _MAX_TIMEOUT:
        raise _UriError(f"timeout must be more than 0 and at most {_MAX_TIMEOUT:g} seconds, got {raw!r}")
    return value


def _token(query: dict[str, str], credentials_dir: str | None) -> str:
    name = query.get("token", "")
    if not name:
        raise _UriError("missing ?token=<credential name> (the file in the credentials directory holding the token)")
    if not _is_credential_name(name):
        raise _UriError(
            "token must name a credential file (up to 64 letters, digits, _ . -, e.g. wa_token), "
            "not hold the secret itself"
        )
    directory = credentials_dir if credentials_dir is not None else os.environ.get(CREDENTIALS_ENV, "")
    if not directory:
        raise _UriError(f"credential {name!r} not found: no credentials directory (${CREDENTIALS_ENV} is not set)")
    path = Path(directory) / name
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise _UriError(f"credential {name!r} not found: no file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _UriError(f"credential {name!r} cannot be read from {path}: {type(exc).__name__}") from None
    if not secret:
        raise _UriError(f"credential {name!r} in {path} is empty")
    if not _TOKEN_CHARS.match(secret):
        raise _UriError(f"credential {name!r} in {path} holds characters a token cannot have (spaces, control)")
    return secret


def _shown(uri: str) -> str:
    """The URI for an error message: user info and a token value that is not a credential name hidden."""

    def token(match: re.Match[str]) -> str:
        value = unquote(match.group(2))
        return match.group(0) if not value or _is_credential_name(value) else f"{match.group(1)}***"

    return _TOKEN_IN_URI.sub(token, _USERINFO.sub(r"\1***@", uri))


def _is_credential_name(value: str) -> bool:
    """A file name for a credential, and not something that looks like a pasted API key."""
    if not _CREDENTIAL_NAME.match(value):
        return False
    return len(value) < _SECRET_LOOKING or bool(_NAME_SEPARATOR.search(value))
