"""Who may touch what: a NIK names a person, proof is something the person has.

Proof here is a one-time code sent to a contact the agency holds for the NIK (the
imported roster's phone or e-mail; for a NIK not on the roster, the first contact
that proved it), turned into a short-lived proof bound to this browser.
"""
