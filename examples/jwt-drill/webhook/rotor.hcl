# The webhook drill: a shared HMAC secret rotated while webhooks flow. The
# receiver accepts a signature made with any enabled version, re-reading the
# store's key set every 2s; the sender signs with the primary, re-read every
# second. See ../README.md.
#
#   rotor-drill webhook-receiver --family webhook_secret --cache-ttl 2s --listen 127.0.0.1:8082
#   rotor-drill load --hmac --target http://127.0.0.1:8082/hook --family webhook_secret

store "file" "local" {}

secret "webhook_secret" {
  owner         = "team-drill"
  store         = store.file.local
  cadence       = "90d"
  review_by     = "2027-06-01"
  overlap       = "2s" # >= sender cache_ttl 1s
  destroy_after = "1s"

  generate "random" {
    length   = 32
    encoding = "base64url"
  }

  version "w1" {}
  active = "w1"
}

consumer "receiver" {
  accepts   = secret.webhook_secret
  cache_ttl = "2s"

  # Accepted means: a webhook signed with the new secret gets a 200.
  verify "http" {
    on            = ["accept"]
    url           = "http://127.0.0.1:8082/hook"
    method        = "POST"
    credential    = "hmac"
    header        = "X-Signature"
    signature     = "sha256={hex}"
    expect_status = 200
    timeout       = "2s"
    within        = "30s"
  }

  # Each query falls back to 0 only while Prometheus scrapes the service
  # (`up` is 1): a rate with no samples yet is 0, but a service that is not
  # scraped, or a label that matches nothing, gives no series, and the probe
  # fails instead of passing on no data. (`or vector(0)` would pass it.)
  #
  # Before the old secret is revoked: nothing signed with it arrives any more.
  verify "prometheus" {
    on      = ["drain"]
    address = "http://127.0.0.1:9090"
    query   = "sum(rate(drill_verifications_total{drill=\"webhook\",kid=\"${version}\",result=\"ok\"}[5s])) or on() (sum(up{drill=\"webhook\"} == 1) * 0)"
    below   = 0.01
    within  = "60s"
  }

  # After the revoke: rejections no higher than when the rotation started.
  verify "prometheus" {
    on           = ["guard"]
    address      = "http://127.0.0.1:9090"
    query        = "sum(rate(drill_verifications_total{drill=\"webhook\",result=\"rejected\"}[5s])) or on() (sum(up{drill=\"webhook\"} == 1) * 0)"
    max_increase = 0
    within       = "30s"
  }
}

consumer "sender" {
  emits     = secret.webhook_secret
  cache_ttl = "1s"

  verify "prometheus" {
    on      = ["emit"]
    address = "http://127.0.0.1:9090"
    query   = "sum(rate(drill_verifications_total{drill=\"webhook\",kid=\"${version}\",result=\"ok\"}[5s])) or on() (sum(up{drill=\"webhook\"} == 1) * 0)"
    above   = 1
    within  = "30s"
  }
}
