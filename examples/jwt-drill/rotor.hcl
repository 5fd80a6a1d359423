# The drill: a JWT signing key rotated under live traffic, every gate proven
# by the verifier itself and by Prometheus. See README.md beside this file.
#
#   rotor-drill verifier  --jwks public/jwks.json --cache-ttl 3s --listen 127.0.0.1:8081
#   rotor-drill load      --target http://127.0.0.1:8081/verify --family drill_signing_key
#   Prometheus on 127.0.0.1:9090, scraping 127.0.0.1:8081 with the label drill="jwt"
#
# Windows are seconds so that the whole drill runs in under a minute.

store "file" "local" {}

secret "drill_signing_key" {
  owner         = "team-drill"
  store         = store.file.local
  cadence       = "90d"
  review_by     = "2027-06-01"
  overlap       = "6s" # >= load cache_ttl 1s + token_ttl 5s
  destroy_after = "2s"

  generate "rsa" {
    bits = 2048
  }

  version "v1" {}
  active = "v1"
}

publish "jwks" "public" {
  secret = secret.drill_signing_key
  path   = "public/jwks.json"
}

# The API gateway: fetches public/jwks.json every 3s and accepts only the
# kids it fetched.
consumer "verifier" {
  accepts   = secret.drill_signing_key
  via       = publish.jwks.public
  cache_ttl = "3s"

  # Accepted means: the gateway's own cached key set holds the kid ...
  verify "jwks" {
    on     = ["accept"]
    url    = "http://127.0.0.1:8081/keys"
    within = "30s"
  }

  # ... and it answers 200 to a token signed with the new key.
  verify "http" {
    on            = ["accept"]
    url           = "http://127.0.0.1:8081/verify"
    credential    = "bearer_jwt"
    issuer        = "rotor"
    audience      = "drill"
    expect_status = 200
    timeout       = "2s"
    within        = "30s"
  }

  # Each query falls back to 0 only while Prometheus scrapes the service
  # (`up` is 1): a rate with no samples yet is 0, but a service that is not
  # scraped, or a label that matches nothing, gives no series, and the probe
  # fails instead of passing on no data. (`or vector(0)` would pass it.)
  #
  # Before the old key is revoked: no traffic signed with it any more.
  # ${version} is the old version here.
  verify "prometheus" {
    on      = ["drain"]
    address = "http://127.0.0.1:9090"
    query   = "sum(rate(drill_verifications_total{drill=\"jwt\",kid=\"${version}\",result=\"ok\"}[5s])) or on() (sum(up{drill=\"jwt\"} == 1) * 0)"
    below   = 0.01
    within  = "60s"
  }

  # After the revoke: rejections no higher than when the rotation started.
  verify "prometheus" {
    on           = ["guard"]
    address      = "http://127.0.0.1:9090"
    query        = "sum(rate(drill_verifications_total{drill=\"jwt\",result=\"rejected\"}[5s])) or on() (sum(up{drill=\"jwt\"} == 1) * 0)"
    max_increase = 0
    within       = "30s"
  }
}

# The auth service and its clients: signs with the primary, re-read every
# second; clients keep a token for its 5s lifetime.
consumer "load" {
  emits     = secret.drill_signing_key
  cache_ttl = "1s"
  token_ttl = "5s"

  # Emitted means: the verifier sees real traffic signed with the new key.
  # The accept probe's own few requests stay far below 1/s; the load sends 50/s.
  verify "prometheus" {
    on      = ["emit"]
    address = "http://127.0.0.1:9090"
    query   = "sum(rate(drill_verifications_total{drill=\"jwt\",kid=\"${version}\",result=\"ok\"}[5s])) or on() (sum(up{drill=\"jwt\"} == 1) * 0)"
    above   = 1
    within  = "30s"
  }
}
