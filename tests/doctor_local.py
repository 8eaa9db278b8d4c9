"""``make doctor``: ``genesys-auth doctor`` against the local emulators (moto and the Genesys emulator).

Starts both on loopback, creates a credentials secret for a new emulator OAuth client and the shared
token table, then runs ``python -m genesys_auth doctor`` in a child process with the environment a
function would have, and prints its report. Extra arguments go to the doctor (``--json``).

    python -m tests.doctor_local [--json]
"""

from __future__ import annotations

import subprocess
import sys

from tests.harness.aws import MotoServer, app_env, create_credentials_secret, create_token_table, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        with patched_environ(moto.env()):
            oauth = emulator.add_client(name="doctor-demo")
            secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
            table = create_token_table(moto)
        env = app_env(moto, emulator.url, secret_id, GENESYS_TOKEN_TABLE=table)
        print(f"emulated AWS {moto.url}, Genesys {emulator.url}; secret {secret_id}, table {table}\n", flush=True)
        done = subprocess.run([sys.executable, "-m", "genesys_auth", "doctor", *args], env=env, check=False)
        return done.returncode
    finally:
        emulator.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
