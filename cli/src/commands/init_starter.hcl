# Quickstart: a JWT signing key on the local file store, published as a JWKS,
# with one verifier and one emitter. Windows are seconds so that a whole
# rotation runs in about ten seconds; real services use minutes and hours.

store "file" "local" {
  path = ".rotor/secrets" # material lives here, files of mode 0600
}

secret "session_signing_key" {
  description   = "Auth service signing key for user sessions"
  owner         = "team-identity"
  store         = store.file.local
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

  # Acceptance is proven, not assumed: the key set the gateway reads holds the kid.
  verify "command" {
    command = ["sh", "-c", "grep -q \"\\\"$ROTOR_KID\\\"\" public/.well-known/jwks.json"]
    timeout = "5s"
  }
}

# Signs session tokens with the primary version, re-reading it every 2s.
consumer "auth_service" {
  emits     = secret.session_signing_key
  cache_ttl = "2s"
  token_ttl = "3s"

  # Emission is proven: the primary the service reads is the new version.
  verify "command" {
    command = ["sh", "-c", "test \"$(cat .rotor/secrets/session_signing_key/primary)\" = \"$ROTOR_VERSION\""]
    timeout = "5s"
  }
}
