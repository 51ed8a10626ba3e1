"""Host names and addresses as a scenario may write them, with messages that say what to write.

`check_host` accepts an exact DNS name, an IP literal, or `*.domain` (any depth of subdomain);
`check_address` accepts `ip:port` for `resolve`. Both raise `HostNameError` whose message tells
the user what to write instead ("write the host name only, without https://").
"""

from __future__ import annotations

import functools
import ipaddress
import re


class HostNameError(ValueError):
    """A host name that can't be used; the message says what to write instead."""


_LABEL_CHARS = re.compile(r"[a-z0-9-]+\Z")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


def _bare_host(text: str) -> str:
    """Best guess at the host inside a URL-ish string, for 'write X instead' hints."""
    text = _SCHEME.sub("", text, count=1)
    text = re.split(r"[/?#]", text, maxsplit=1)[0].rsplit("@", 1)[-1]
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.lower() or "api.example.com"


def check_host(text: str, wildcard_ok: bool = True) -> str:
    """Return `text` as a canonical host pattern, or raise HostNameError saying what to write."""
    if not text.strip():
        raise HostNameError("empty; write a host name such as 'api.example.com'")
    if text != text.strip():
        raise HostNameError(f"remove the spaces around the name: write {text.strip()!r}")
    if _SCHEME.match(text):
        scheme = _SCHEME.match(text).group(0)
        raise HostNameError(f"write the host name only, without {scheme!r}: {_bare_host(text)!r}")
    for sep, what in (("/", "path"), ("?", "query"), ("#", "fragment")):
        if sep in text:
            rest = text[text.index(sep) :]
            raise HostNameError(
                f"write the host name only, without the {what} {rest!r}: {_bare_host(text)!r}"
            )
    if "@" in text:
        raise HostNameError(f"write the host name only, without a user name: {_bare_host(text)!r}")
    if any(c.isspace() for c in text):
        raise HostNameError(f"host names contain no spaces: {text!r}")
    if text.startswith("["):
        inner, closed, after = text[1:].partition("]")
        if after.startswith(":"):
            raise HostNameError(
                f"write the host only, without the port {after!r}: {inner!r}; a "
                "host entry covers every port"
            )
        if not closed or after:
            raise HostNameError(f"{text!r} is not a valid bracketed IPv6 address; write e.g. '::1'")
        return _ipv6(inner)
    if text.count(":") >= 2:
        return _ipv6(text)
    if ":" in text:
        host, port = text.split(":")
        raise HostNameError(
            f"write the host name only, without the port ':{port}': {host.lower()!r}; "
            "a host entry covers every port"
        )
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if "*" not in name:
        return _dns_or_ipv4(name)
    if not wildcard_ok:
        raise HostNameError(
            "needs an exact host name, not a '*' pattern; list each host separately"
        )
    if name == "*" or name == "*.":
        raise HostNameError(
            "a bare '*' would intercept every host; list the app's hosts, e.g. '*.example.com'"
        )
    if not name.startswith("*.") or "*" in name[2:]:
        labels = name.split(".")
        last_star = max(i for i, label in enumerate(labels) if "*" in label)
        rest = ".".join(labels[last_star + 1 :])
        if name.startswith("*") and not name.startswith("*.") and "*" not in name.lstrip("*"):
            rest = name.lstrip("*").lstrip(".")
        suggestion = f"; write '*.{rest}'" if rest.count(".") >= 1 else ""
        raise HostNameError(
            f"{text!r}: '*' may only be the whole first label, followed by a dot, as "
            f"in '*.example.com' (it matches subdomains at any depth){suggestion}"
        )
    base = name[2:]
    checked = _dns_or_ipv4(base)
    if all(label.isdigit() for label in base.split(".")):
        raise HostNameError(f"{text!r}: a wildcard needs a domain name, not an IP address")
    if "." not in checked:
        raise HostNameError(
            f"{text!r} would match every host under a top-level domain; name the "
            "app's own domain, e.g. '*.example.com'"
        )
    if is_public_suffix(checked):
        raise HostNameError(
            f"{text!r} would match every site registered under {checked!r}, a public suffix "
            "(anyone can register a name there); name the app's own domain, e.g. "
            f"'*.example.{checked}'"
        )
    return "*." + checked


@functools.cache
def _public_suffixes():
    # publicsuffixlist ships the Public Suffix List in the package (a new release follows each
    # change of the list): nothing is downloaded. Its ICANN and private sections both count.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def is_public_suffix(domain: str) -> bool:
    """`co.uk`, `github.io`, `pages.dev`: names under which anyone can register their own."""
    return bool(_public_suffixes().is_public(domain))


def _ipv6(text: str) -> str:
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        raise HostNameError(
            f"{text!r} is not a valid IPv6 address; write e.g. '2001:db8::1'"
        ) from None


def _dns_or_ipv4(name: str) -> str:
    labels = name.split(".")
    if all(label.isdigit() for label in labels if label) and any(labels):
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise HostNameError(
                f"{name!r} is not a valid IPv4 address; write four numbers "
                "0-255 without leading zeros, e.g. '192.0.2.10'"
            ) from None
    if not name.isascii():
        try:
            ascii_form = name.encode("idna").decode()
            hint = f"write it in its ASCII form: {ascii_form!r}"
        except UnicodeError:
            hint = "write it in its ASCII (xn--) form"
        raise HostNameError(f"{name!r} has non-ASCII letters; {hint}")
    if len(name) > 253:
        raise HostNameError(f"the name is {len(name)} characters long; host names have at most 253")
    for label in labels:
        if not label:
            raise HostNameError(
                f"{name!r} has an empty label (a leading dot or two dots in a row); "
                "remove the extra dot"
            )
        if len(label) > 63:
            raise HostNameError(
                f"label {label[:12] + '...'!r} is {len(label)} characters long; a "
                "label between dots has at most 63"
            )
        if not _LABEL_CHARS.match(label):
            bad = next(c for c in label if not _LABEL_CHARS.match(c))
            raise HostNameError(
                f"{bad!r} is not allowed in host names ({name!r}); use only letters, "
                "digits, '-' and dots"
            )
        if label.startswith("-") or label.endswith("-"):
            raise HostNameError(
                f"label {label!r} starts or ends with '-', which host names can't; check for a typo"
            )
    if labels[-1].isdigit():
        raise HostNameError(
            f"{name!r}: the last label of a host name can't be all digits; check for "
            "a typo, or write a full IPv4 address"
        )
    return name


def check_address(text: str) -> tuple[str, int]:
    """Parse a `resolve` target: 'ip:port' or '[ipv6]:port'."""
    example = "write e.g. '127.0.0.1:8443' or '[::1]:8443'"
    if text.startswith("["):
        ip, closed, after = text[1:].partition("]")
        if not closed or not after.startswith(":"):
            raise HostNameError(f"{text!r} needs a port after the bracket: '[{ip}]:443'")
        port = after[1:]
        try:
            ip = ipaddress.IPv6Address(ip).compressed
        except ValueError:
            raise HostNameError(f"{ip!r} is not a valid IPv6 address; {example}") from None
    else:
        ip, colon, port = text.rpartition(":")
        if not colon:
            raise HostNameError(f"{text!r} has no port; add it: '{text}:443'")
        if ":" in ip:
            raise HostNameError(f"put IPv6 addresses in brackets: '[{ip}]:{port}'")
        try:
            ip = str(ipaddress.IPv4Address(ip))
        except ValueError:
            raise HostNameError(
                f"{ip!r} is not an IP address; resolve routes a host to an address "
                f"without DNS, so {example}"
            ) from None
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise HostNameError(f"port {port!r} is not a number from 1 to 65535; {example}")
    return ip, int(port)
