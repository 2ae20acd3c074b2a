#!/usr/bin/env python3
"""Prints the current TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a
base32 secret, as an authenticator app would: `python3 examples/totp.py SECRET`.
Add an offset in steps to get the next code: `... SECRET 1`."""
import base64, hashlib, hmac, struct, sys, time

secret = base64.b32decode(sys.argv[1].upper() + "=" * (-len(sys.argv[1]) % 8))
step = int(time.time()) // 30 + (int(sys.argv[2]) if len(sys.argv) > 2 else 0)
digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
offset = digest[19] & 0x0F
value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
print(f"{value % 1_000_000:06d}")
