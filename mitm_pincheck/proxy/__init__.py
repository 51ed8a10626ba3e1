"""The mitmproxy side: the addon (hooks only), certificate forging, TLS record observation,
the phase runner, and the few reaches into mitmproxy internals."""
