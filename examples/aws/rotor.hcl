# A JWT signing key in AWS Secrets Manager, published as a JWKS, with one
# verifier and one emitter. Runs against the moto server that
# scripts/services/moto starts (see README.md); for real AWS, drop `endpoint`.
# Windows are seconds so that a whole rotation runs in about fifteen seconds.

store "aws_secretsmanager" "main" {
  region   = "us-east-1"
  endpoint = env("ROTOR_AWS_ENDPOINT") # http://127.0.0.1:PORT of moto
  prefix   = "rotor-example/" # the secret is rotor-example/session_signing_key
}

secret "session_signing_key" {
  description   = "Auth service signing key for user sessions"
  owner         = "team-identity"
  store         = store.aws_secretsmanager.main
  cadence       = "90d"
  review_by     = "2027-02-01"
  overlap       = "5s" # >= auth_service cache_ttl + token_ttl
  destroy_after = "3s" # revoked versions stay restorable this long

  generate "rsa" {
    bits = 2048
  }

  version "2026-08" {}
  active = "2026-08"
}

publish "jwks" "public" {
  secret = secret.session_signing_key
  path   = "public/.well-known/jwks.json"
}

# Validates session tokens against the published JWKS, caching it for 2s.
consumer "api_gateway" {
  accepts   = secret.session_signing_key
  via       = publish.jwks.public
  cache_ttl = "2s"

  verify "command" {
    command = ["sh", "-c", "grep -q \"\\\"$ROTOR_KID\\\"\" public/.well-known/jwks.json"]
    timeout = "5s"
  }
}

# Signs session tokens with AWSCURRENT, re-reading it every 2s.
consumer "auth_service" {
  emits     = secret.session_signing_key
  cache_ttl = "2s"
  token_ttl = "3s"

  # Emission is proven: AWSCURRENT, what the service reads, is the new version.
  verify "command" {
    command = ["sh", "-c", "test \"$(python3 aws-secret.py current rotor-example/$ROTOR_FAMILY)\" = \"$ROTOR_VERSION\""]
    timeout = "10s"
  }
}
