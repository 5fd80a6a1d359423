#!/usr/bin/env python3
"""What a service sees in Secrets Manager, for the example's probe and for you.

    python3 aws-secret.py current SECRET   # the rotor version AWSCURRENT holds
    python3 aws-secret.py labels SECRET    # every labelled version and its labels

Talks to ROTOR_AWS_ENDPOINT when it is set (moto), to AWS otherwise, with the
standard credential chain. Needs boto3 (moto[server] brings it). Never prints
material.
"""
import json
import os
import sys

import boto3

command, secret = sys.argv[1], sys.argv[2]
client = boto3.client(
    "secretsmanager",
    endpoint_url=os.environ.get("ROTOR_AWS_ENDPOINT") or None,
    region_name=os.environ.get("AWS_REGION", "us-east-1"),
)
if command == "current":
    # What a service reads: AWSCURRENT (also the default stage; named here
    # because moto's default does not follow a moved AWSCURRENT).
    value = client.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT")
    print(json.loads(value["SecretString"])["rotor_version"])
elif command == "labels":
    versions = client.describe_secret(SecretId=secret).get("VersionIdsToStages", {})
    for version_id, stages in sorted(versions.items(), key=lambda kv: sorted(kv[1])):
        if stages:
            print(version_id, " ".join(sorted(stages)))
else:
    sys.exit(f"unknown command {command!r}: use current or labels")
