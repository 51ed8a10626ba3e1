"""Mirroring a real certificate for the `wrong-key` kind: the same certificate, another key.

The helpers here copy what the server sent as exactly as `cryptography` allows (extensions as their
own bytes, the serial, the signature algorithm) and say in notes what they could not copy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtensionOID


def swap_leaf_key(
    host: str, real_chain: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, PrivateKeyTypes, tuple[str, ...]]:
    """The real leaf with a fresh key of the same type and size and a signature that cannot verify.

    Everything else (subject, issuer, serial, dates, extensions byte for byte, the signature
    algorithm) is copied, so that the key and the signature are the only differences a client can
    notice. Returns the certificate, its private key and notes on what could not be copied.
    """
    real = real_chain[0]
    key, notes = fresh_key_like(real.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(real.subject)
        .issuer_name(real.issuer)
        .not_valid_before(real.not_valid_before_utc)
        .not_valid_after(real.not_valid_after_utc)
        .public_key(key.public_key())
    )
    try:
        builder = builder.serial_number(real.serial_number)
    except ValueError:  # zero, negative or over 20 bytes: the builder refuses to copy it
        builder = builder.serial_number(x509.random_serial_number())
        notes += (f"the real serial number of {host} could not be copied: used a random one",)
    for ext in real.extensions:
        if ext.oid == ExtensionOID.SUBJECT_KEY_IDENTIFIER:
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        else:
            value = _verbatim(ext.value)
        builder = builder.add_extension(value, ext.critical)
    signer = _throwaway_key(_issuer_key_spec(real_chain))
    algorithm, rsa_padding = _signature_like(real, signer)
    try:
        cert = builder.sign(signer, algorithm, rsa_padding=rsa_padding)
    except UnsupportedAlgorithm:  # SHA-1 or MD5: cryptography no longer signs with them
        cert = builder.sign(signer, hashes.SHA256(), rsa_padding=rsa_padding)
        notes += (f"the real leaf of {host} uses {algorithm.name}: signed with sha256 instead",)
    return cert, key, notes


def signing_hash(key: PrivateKeyTypes) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def fresh_key_like(public_key) -> tuple[PrivateKeyTypes, tuple[str, ...]]:
    """A new key of the same type and size, so only the key differs, not the algorithm."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return rsa.generate_private_key(65537, public_key.key_size), ()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ec.generate_private_key(public_key.curve), ()
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return ed25519.Ed25519PrivateKey.generate(), ()
    if isinstance(public_key, ed448.Ed448PublicKey):
        return ed448.Ed448PrivateKey.generate(), ()
    kind = type(public_key).__name__
    return ec.generate_private_key(ec.SECP256R1()), (
        f"real leaf key type {kind} not mirrored: used an EC P-256 key",
    )


def _issuer_key_spec(real_chain: Sequence[x509.Certificate]) -> tuple:
    """(type, size or curve) of the key that signed the real leaf: from the issuer's
    certificate when the server sent it, else read off the leaf's signature."""
    leaf = real_chain[0]
    if len(real_chain) > 1 and real_chain[1].subject == leaf.issuer:
        pub = real_chain[1].public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            return ("rsa", pub.key_size)
        if isinstance(pub, ec.EllipticCurvePublicKey):
            return ("ec", type(pub.curve))
        if isinstance(pub, ed25519.Ed25519PublicKey):
            return ("ed25519",)
        if isinstance(pub, ed448.Ed448PublicKey):
            return ("ed448",)
    try:
        params = leaf.signature_algorithm_parameters
        digest = leaf.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return ("ec", ec.SECP256R1)
    if isinstance(params, padding.PKCS1v15 | padding.PSS):
        return ("rsa", len(leaf.signature) * 8)  # an RSA signature is as long as the modulus
    if isinstance(params, ec.ECDSA):
        curves = {"sha384": ec.SECP384R1, "sha512": ec.SECP521R1}
        return ("ec", curves.get(digest.name if digest else "", ec.SECP256R1))
    if leaf.signature_algorithm_oid == x509.SignatureAlgorithmOID.ED448:
        return ("ed448",)
    if leaf.signature_algorithm_oid == x509.SignatureAlgorithmOID.ED25519:
        return ("ed25519",)
    return ("ec", ec.SECP256R1)


@functools.cache
def _throwaway_key(spec: tuple) -> PrivateKeyTypes:
    """One throwaway issuer key per key type for the process: it signs nothing that should
    verify, and a 4096-bit RSA key per host would stall the first connection for seconds."""
    if spec[0] == "rsa":
        return rsa.generate_private_key(65537, spec[1])
    if spec[0] == "ec":
        return ec.generate_private_key(spec[1]())
    if spec[0] == "ed448":
        return ed448.Ed448PrivateKey.generate()
    return ed25519.Ed25519PrivateKey.generate()


def _signature_like(
    real: x509.Certificate, signer: PrivateKeyTypes
) -> tuple[hashes.HashAlgorithm | None, padding.PSS | None]:
    """The real leaf's signature algorithm (hash, PSS or not), as far as `signer` can do it."""
    if signing_hash(signer) is None:
        return None, None
    try:
        digest = real.signature_hash_algorithm
        params = real.signature_algorithm_parameters
    except UnsupportedAlgorithm:
        digest, params = None, None
    is_pss = isinstance(signer, rsa.RSAPrivateKey) and isinstance(params, padding.PSS)
    return digest or hashes.SHA256(), params if is_pss else None


def _verbatim(value: x509.ExtensionType) -> x509.ExtensionType:
    """The extension's own bytes, so what we copy is exactly what the server sent (SCTs too)."""
    try:
        return x509.UnrecognizedExtension(value.oid, value.public_bytes())
    except NotImplementedError:
        return value
