"""Emission probe: passes when Vault's primary for the family is ROTOR_VERSION.

Reads only the document's `primary` field; material is never printed.
"""
import json
import os
import sys
import urllib.request

url = "{}/v1/secret/data/rotor-example/{}".format(
    os.environ["VAULT_ADDR"].rstrip("/"), os.environ["ROTOR_FAMILY"]
)
request = urllib.request.Request(url, headers={"X-Vault-Token": os.environ["VAULT_TOKEN"]})
with urllib.request.urlopen(request, timeout=5) as response:
    primary = json.load(response)["data"]["data"].get("primary")
if primary != os.environ["ROTOR_VERSION"]:
    print(f"vault primary is {primary}, not {os.environ['ROTOR_VERSION']}")
    sys.exit(1)
print(f"vault primary is {primary}")
