"""Independent checks of certificates Kiroku issued, with tools that share
no code with it: jwcrypto (JWS signature, RFC 7638 kid), zlib (raw
inflate), zxing-cpp and zbarimg (QR images back to text, version, ECC
level), rfc8785 + cryptography (VDS-NC signature, BSC -> CSCA chain).

usage: check_cards.py DIR    (DIR holds card.json, jwks.json, csca.der)
Prints one line per check; exits non-zero at the first failure.
"""
import base64, json, subprocess, sys, zlib
from pathlib import Path

from jwcrypto import jwk, jws
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
import rfc8785
import zxingcpp
from PIL import Image


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check(ok, what):
    if not ok:
        print("FAIL", what)
        sys.exit(1)
    print("ok", what)


def qr_text(png_b64, path):
    path.write_bytes(base64.b64decode(png_b64))
    found = zxingcpp.read_barcodes(Image.open(path))
    check(len(found) == 1, f"zxing-cpp finds one QR code in {path.name}")
    zbar = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sbinary", str(path)], capture_output=True)
    check(zbar.returncode == 0, f"zbarimg reads {path.name}")
    return found[0], zbar.stdout.decode().rstrip("\n")


def main(d):
    card = json.loads((d / "card.json").read_text())
    keys = json.loads((d / "jwks.json").read_text())["keys"]
    token = card["jws"]
    header = json.loads(b64url(token.split(".")[0]))
    check(header == {"zip": "DEF", "alg": "ES256", "kid": header["kid"]}, "header is {zip, alg, kid}")
    key = [k for k in keys if k["kid"] == header["kid"]]
    check(len(key) == 1, "the kid is in the issuer's JWKS")
    public = jwk.JWK(**{k: v for k, v in key[0].items() if k in ("kty", "crv", "x", "y")})
    check(public.thumbprint() == header["kid"], "kid is the RFC 7638 thumbprint")
    parsed = jws.JWS()
    parsed.deserialize(token)
    parsed.verify(public)
    check(True, "jwcrypto verifies the ES256 signature")
    payload = json.loads(zlib.decompress(b64url(token.split(".")[1]), -15))
    check(payload["vc"]["type"] == ["https://smarthealth.cards#health-card"], "vc.type")
    check(payload["vc"]["credentialSubject"]["fhirVersion"] == "4.0.1", "fhirVersion 4.0.1")
    entries = payload["vc"]["credentialSubject"]["fhirBundle"]["entry"]
    check(all(e["fullUrl"] == f"resource:{i}" for i, e in enumerate(entries)), "fullUrl resource:N")
    check(all("id" not in e["resource"] and "meta" not in e["resource"] for e in entries), "no id or meta")
    immunizations = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Immunization"]
    check(len(immunizations) == int((d / "doses.txt").read_text()), "one Immunization per dose")
    check(len(payload["vc"]["rid"]) <= 24, "rid at most 24 characters")

    found, zbar = qr_text(card["qr_png_base64"][0], d / "shc.png")
    check(found.text == card["qr"][0], "zxing-cpp reads back exactly the qr text")
    check(zbar == card["qr"][0], "zbarimg reads back exactly the qr text")
    check(int(found.extra["Version"]) <= 22, f"QR version {found.extra['Version']} <= 22")
    check(found.extra["ECLevel"] == "L", "error correction L")

    if "vds" not in card:
        return
    doc = card["vds"]
    signed = rfc8785.dumps(doc["data"])
    bsc = x509.load_der_x509_certificate(b64url(doc["sig"]["cer"]))
    raw = b64url(doc["sig"]["sigvl"])
    der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    bsc.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))
    check(True, "cryptography verifies sigvl over the RFC 8785 form of data")
    csca = x509.load_der_x509_certificate((d / "csca.der").read_bytes())
    csca.public_key().verify(bsc.signature, bsc.tbs_certificate_bytes, ec.ECDSA(bsc.signature_hash_algorithm))
    check(bsc.issuer == csca.subject, "the BSC is issued by the CSCA, which signed it")
    found, zbar = qr_text(card["vds_qr_png_base64"], d / "vds.png")
    check(json.loads(found.text) == doc and json.loads(zbar) == doc, "both readers read the VDS-NC QR back to the document")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
