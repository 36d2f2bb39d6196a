"""Digital signatures for issued documents (Decree 30/2020, Appendix I; docs/design.md §4.5).

    signing = load_signing(settings)          # None when CONGVAN_SIGNING_KEYS is unset
    signing.preflight(authority=..., signer=..., signer_name=..., at=now)      # before a number is taken
    signing.sign_issued(pdf, authority=..., signer=..., signer_title=..., signer_name=..., so_ky_hieu=...,
                        signed_at=now)        # the signer's signature, then the organisation's
    signing.sign_attachment(pdf, authority=..., so_ky_hieu=..., signed_at=now)
    verify([pdf], trust_roots=root)           # one FileVerdict per file

pyHanko is imported inside the functions that use it, so importing this package (and ``congvan --help``) stays
fast.
"""

from congvan.signing.sign import Signing, load_signing
from congvan.signing.verify import FileVerdict, SignatureVerdict, verify

__all__ = ["FileVerdict", "SignatureVerdict", "Signing", "load_signing", "verify"]
