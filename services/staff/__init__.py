"""Staff: the people who use the console for an actor (a centre's clerks, a bank's buyers),
their passwords and passkeys, their console sessions, CSRF tokens and the sign-in rate
limit. Off the log, like API tokens: the log names a staff member only by id (`staff` in
an entry's envelope), never by name.

    passwords.py   argon2id hashes, the password rule, usernames
    sessions.py    sign-in, the session cookie, CSRF, the signed-in principal
    passkeys.py    WebAuthn (py_webauthn): registration and sign-in with a passkey
    queries.py     staff accounts: create, list, disable (who may)
"""
