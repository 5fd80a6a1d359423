# A database password rotated with alternating users: two login roles with
# the same grants (app_a, app_b) take turns, so the old login keeps working
# until the application has moved to the new one. Windows are seconds so that
# a rotation runs in about fifteen seconds; real services use minutes.

# The application reads its login from here: `primary` names the version,
# versions/<id>.key holds {"username": …, "password": …}. Listed first in the
# family: the database keeps only a verifier, so a write interrupted between
# the two stores is completed by copying from this one.
store "file" "app" {
  path = ".rotor/secrets"
}

# Sets the login roles' passwords (as SCRAM verifiers) and LOGIN/NOLOGIN.
store "postgres" "db" {
  host     = env("ROTOR_PG_HOST")
  port     = env("ROTOR_PG_PORT")
  dbname   = "app"
  user     = "rotor_admin" # CREATEROLE, and ADMIN OPTION on app_a and app_b
  password = env("ROTOR_PG_PASSWORD")
  sslmode  = "disable"
}

secret "db_password" {
  description   = "The application's database login"
  owner         = "team-platform"
  store         = [store.file.app, store.postgres.db]
  cadence       = "30d"
  review_by     = "2027-03-01"
  overlap       = "4s" # >= app cache_ttl
  destroy_after = "2s" # a revoked login stays restorable this long

  generate "login" {
    usernames = ["app_a", "app_b"] # version by version, in turn
  }

  version "v1" {}
  active = "v1"
}

# The database accepts a login when a new session with it can run SELECT 1.
consumer "database" {
  accepts   = secret.db_password
  cache_ttl = "0s" # it checks passwords at each login

  verify "postgres" {
    host    = env("ROTOR_PG_HOST")
    port    = env("ROTOR_PG_PORT")
    dbname  = "app"
    sslmode = "disable"
  }
}

# The application re-reads its login every 2s and connects with the primary.
consumer "app" {
  emits     = secret.db_password
  cache_ttl = "2s"

  # Emission is proven: the login the application reads is the new version.
  verify "command" {
    command = ["sh", "-c", "test \"$(cat .rotor/secrets/db_password/primary)\" = \"$ROTOR_VERSION\""]
    timeout = "5s"
  }
}
