# A JWT signing key kept in two stores at once: Vault/OpenBao, where the
# services read it, and the local file store, which feeds the JWKS publisher.
# Every version is written to both; if an apply stops between them, the next
# one copies the version across. Windows are seconds, as in the quickstart.

store "vault" "main" {
  address = env("VAULT_ADDR")
  token   = env("VAULT_TOKEN")
  mount   = "secret"
  path    = "rotor-example"
}

store "file" "local" {
  path = ".rotor/secrets"
}

secret "session_signing_key" {
  description   = "Auth service signing key for user sessions"
  owner         = "team-identity"
  store         = [store.vault.main, store.file.local]
  cadence       = "90d"
  review_by     = "2027-02-01"
  overlap       = "5s"
  destroy_after = "3s"

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

consumer "api_gateway" {
  accepts   = secret.session_signing_key
  via       = publish.jwks.public
  cache_ttl = "2s"

  verify "command" {
    command = ["sh", "-c", "grep -q \"\\\"$ROTOR_KID\\\"\" public/.well-known/jwks.json"]
    timeout = "5s"
  }
}

# Reads the primary from Vault, as the real service would.
consumer "auth_service" {
  emits     = secret.session_signing_key
  cache_ttl = "2s"
  token_ttl = "3s"

  verify "command" {
    command = ["python3", "primary.py"]
    timeout = "5s"
  }
}
