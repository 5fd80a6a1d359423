//! The `prometheus` probe: an instant query against the Prometheus HTTP API,
//! compared with a threshold.
//!
//! ```hcl
//! # accept: the new kid verifies successfully
//! verify "prometheus" {
//!   on      = ["accept"]
//!   address = "http://127.0.0.1:9090"
//!   query   = "sum(rate(verifications_total{kid=\"${kid}\",result=\"ok\"}[1m]))"
//!   above   = 0                     # or below = …, or equals = …: exactly one
//!   timeout = "5s"                  # default 10s; ca_file as for http
//! }
//!
//! # guard: after the revoke, 401s are not above what they were before the rotation
//! verify "prometheus" {
//!   on           = ["guard"]
//!   address      = "http://127.0.0.1:9090"
//!   query        = "sum(rate(verifications_total{result=\"unauthorized\"}[1m]))"
//!   max_increase = 0.0
//! }
//! ```
//!
//! The query (`${version}`, `${kid}`, `${family}`, `${consumer}` filled in)
//! is sent as `GET /api/v1/query`. Its result must be one number: a scalar,
//! or an instant vector of exactly one series; several series must be
//! aggregated in the query (`sum(…)`), and no series at all is a failure of
//! its own, since it usually means the metric is not scraped.
//!
//! `max_increase` is for guards: the probe passes when the value is at most
//! the baseline plus `max_increase`. The baseline is what [`Probe::measure`]
//! returned when the rotation started, recorded in state by the engine.

use super::net;
use crate::config::{ConfigError, Settings};
use async_trait::async_trait;
use rotor_engine::Duration;
use rotor_engine::provider::{Probe, ProbeRequest, ProbeResult};
use rotor_engine::spec::{ProbePhase, VerifySpec};
use serde_json::Value;
use std::path::Path;

/// How a value passes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// Strictly greater.
    Above(f64),
    /// Strictly less.
    Below(f64),
    /// Equal, to within 1e-9.
    Equals(f64),
    /// At most the baseline plus this much (guards).
    MaxIncrease(f64),
}

/// The thresholds, as the settings are named.
const THRESHOLDS: [&str; 4] = ["above", "below", "equals", "max_increase"];

/// A `verify "prometheus"` block.
#[derive(Debug, Clone)]
pub struct PrometheusProbe {
    address: String,
    query: String,
    threshold: Threshold,
    timeout: Duration,
    client: reqwest::Client,
}

impl PrometheusProbe {
    /// Reads a `verify "prometheus"` block; `ca_file` is taken from `base_dir`.
    pub fn from_spec(spec: &VerifySpec, base_dir: &Path) -> Result<PrometheusProbe, ConfigError> {
        let settings = Settings::of("verify", &spec.kind, &spec.settings, &spec.span);
        let mut known = vec!["address", "query"];
        known.extend(net::COMMON);
        known.extend(THRESHOLDS);
        settings.only(&known, &net::ENGINE_OWNED)?;
        let address = net::url_setting(&settings, "address", "\"http://127.0.0.1:9090\"")?;
        let (query, query_span) =
            settings.required_string("query", "\"sum(rate(http_requests_total[1m]))\"")?;
        if query.trim().is_empty() {
            return Err(ConfigError::new("`query` is empty", query_span)
                .hint("write a PromQL expression that gives one number"));
        }
        let mut given = Vec::new();
        for key in THRESHOLDS {
            if let Some((n, span)) = settings.number(key)? {
                given.push((key, n, span));
            }
        }
        let threshold = match given.as_slice() {
            [] => {
                return Err(ConfigError::new(
                    "verify \"prometheus\" needs a threshold: `above`, `below`, `equals` or `max_increase`",
                    &spec.span,
                )
                .hint("for example `above = 0` for acceptance, `max_increase = 0` for a guard"));
            }
            [(key, n, span)] => match *key {
                "above" => Threshold::Above(*n),
                "below" => Threshold::Below(*n),
                "equals" => Threshold::Equals(*n),
                _ => {
                    if spec.on.is_empty() || spec.on.iter().any(|p| *p != ProbePhase::Guard) {
                        return Err(ConfigError::new(
                            "`max_increase` compares with the baseline recorded when a rotation starts, which only guard probes have",
                            span,
                        )
                        .hint("set `on = [\"guard\"]`, or use `above`, `below` or `equals`"));
                    }
                    if *n < 0.0 {
                        return Err(ConfigError::new("`max_increase` cannot be negative", span)
                            .hint("0 means: not above the baseline"));
                    }
                    Threshold::MaxIncrease(*n)
                }
            },
            [(first, ..), (second, _, span), ..] => {
                return Err(ConfigError::new(
                    format!("`{second}` and `{first}` are both set: a probe has one threshold"),
                    span,
                )
                .hint("keep one of `above`, `below`, `equals` and `max_increase`"));
            }
        };
        let (client, timeout) = net::client(&settings, base_dir)?;
        Ok(PrometheusProbe {
            address: address.trim_end_matches('/').to_string(),
            query: query.to_string(),
            threshold,
            timeout,
            client,
        })
    }

    /// Runs the query and returns its one number, or why there is none.
    async fn value(&self, request: &ProbeRequest) -> Result<f64, String> {
        let address = net::substitute(&self.address, request);
        let query = net::substitute(&self.query, request);
        let url = format!("{address}/api/v1/query");
        let with_query = reqwest::Url::parse_with_params(&url, [("query", query.as_str())])
            .map_err(|e| format!("`address` is not a URL: {e}"))?;
        let response = self
            .client
            .get(with_query)
            .send()
            .await
            .map_err(|e| net::failure(&e, &url, self.timeout))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| net::failure(&e, &url, self.timeout))?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
            format!(
                "HTTP {status} from {}: not a Prometheus API response",
                crate::net::target(&url)
            )
        })?;
        read_value(&body, &query)
    }
}

/// The one number of a `/api/v1/query` response.
fn read_value(body: &Value, query: &str) -> Result<f64, String> {
    let not_api = || "not a Prometheus API response".to_string();
    match body.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some("error") => {
            let kind = body.get("errorType").and_then(Value::as_str);
            let error = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(match kind {
                Some(k) => format!("Prometheus error ({k}): {error}"),
                None => format!("Prometheus error: {error}"),
            });
        }
        _ => return Err(not_api()),
    }
    let data = body.get("data").ok_or_else(not_api)?;
    let result = data.get("result").ok_or_else(not_api)?;
    let sample = match data.get("resultType").and_then(Value::as_str) {
        Some("scalar") => result,
        Some("vector") => {
            let series = result.as_array().ok_or_else(not_api)?;
            match series.as_slice() {
                [] => {
                    return Err(format!(
                        "query returned no series: is the metric scraped? query: {query}"
                    ));
                }
                [one] => one.get("value").ok_or_else(not_api)?,
                many => {
                    return Err(format!(
                        "query returned {} series; aggregate it (e.g. sum(...))",
                        many.len()
                    ));
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "query returned a {other}; a probe needs an instant vector of one series or a scalar"
            ));
        }
        None => return Err(not_api()),
    };
    // A sample is `[unix_time, "value"]`; the value is a string so that NaN
    // and ±Inf survive JSON.
    let text = sample.get(1).and_then(Value::as_str).ok_or_else(not_api)?;
    let value: f64 = text.parse().map_err(|_| not_api())?;
    if value.is_nan() {
        return Err(format!("query returned NaN: query: {query}"));
    }
    Ok(value)
}

#[async_trait]
impl Probe for PrometheusProbe {
    fn kind(&self) -> &str {
        "prometheus"
    }

    async fn check(&self, request: &ProbeRequest) -> ProbeResult {
        let value = match self.value(request).await {
            Ok(v) => v,
            Err(detail) => {
                return ProbeResult {
                    quotes: true,
                    passed: false,
                    detail,
                };
            }
        };
        let v = net::number(value);
        let (passed, detail) = match self.threshold {
            Threshold::Above(t) => (
                value > t,
                format!("value {v} (wanted above {})", net::number(t)),
            ),
            Threshold::Below(t) => (
                value < t,
                format!("value {v} (wanted below {})", net::number(t)),
            ),
            Threshold::Equals(t) => (
                (value - t).abs() <= 1e-9,
                format!("value {v} (wanted {})", net::number(t)),
            ),
            Threshold::MaxIncrease(m) => match request.baseline {
                None => (
                    false,
                    format!("value {v}, but no baseline was recorded when the rotation started"),
                ),
                Some(b) => (
                    value <= b + m,
                    format!(
                        "value {v} (baseline {} + at most {})",
                        net::number(b),
                        net::number(m)
                    ),
                ),
            },
        };
        ProbeResult {
            quotes: true,
            passed,
            detail,
        }
    }

    async fn measure(&self, request: &ProbeRequest) -> Result<f64, String> {
        self.value(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::span;
    use crate::probe::net::tests::request;
    use rotor_engine::spec::{Located, Value as SpecValue};
    use rotor_testserver::{Request, Response, Server};
    use std::sync::{Arc, Mutex};

    fn spec(on: &[ProbePhase], settings: &[(&str, SpecValue)]) -> VerifySpec {
        let mut map = rotor_engine::spec::Settings::default();
        for (i, (k, v)) in settings.iter().enumerate() {
            map.insert(
                k.to_string(),
                Located {
                    value: v.clone(),
                    span: span(10 * (i + 1)),
                },
            );
        }
        VerifySpec {
            kind: "prometheus".into(),
            on: on.to_vec(),
            on_span: None,
            within: Duration::seconds(60),
            settings: map,
            span: span(0),
        }
    }

    fn n(x: f64) -> SpecValue {
        SpecValue::Number(x)
    }

    fn s(x: &str) -> SpecValue {
        SpecValue::String(x.into())
    }

    fn vector(values: &[&str]) -> String {
        let series: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!(r#"{{"metric":{{"i":"{i}"}},"value":[1795657372.5,"{v}"]}}"#))
            .collect();
        format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
            series.join(",")
        )
    }

    /// A Prometheus-shaped server answering by query text; it records the
    /// queries it was sent.
    async fn server() -> (Server, Arc<Mutex<Vec<String>>>) {
        let queries = Arc::new(Mutex::new(Vec::new()));
        let kept = queries.clone();
        let server = Server::start(move |r: Request| {
            if !r.target.starts_with("/api/v1/query?") {
                return Response::new(404, "404 page not found");
            }
            let q = r.query("query").unwrap_or_default();
            kept.lock().unwrap().push(q.clone());
            match q.as_str() {
                "one" => Response::ok(vector(&["0.25"])),
                "none" => Response::ok(vector(&[])),
                "three" => Response::ok(vector(&["1", "2", "3"])),
                "nan" => Response::ok(vector(&["NaN"])),
                "scalar" => Response::ok(
                    r#"{"status":"success","data":{"resultType":"scalar","result":[1795657372.5,"4"]}}"#,
                ),
                "range" => Response::ok(
                    r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                ),
                "html" => Response::ok("<html>login</html>"),
                "odd" => Response::ok(r#"{"hello":"world"}"#),
                _ => Response::new(
                    400,
                    r#"{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected end of input"}"#,
                ),
            }
        })
        .await;
        (server, queries)
    }

    fn probe(
        address: &str,
        query: &str,
        threshold: (&str, f64),
        on: &[ProbePhase],
    ) -> PrometheusProbe {
        PrometheusProbe::from_spec(
            &spec(
                on,
                &[
                    ("address", s(address)),
                    ("query", s(query)),
                    (threshold.0, n(threshold.1)),
                ],
            ),
            Path::new("/"),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn compares_one_number_with_the_threshold() {
        let (server, queries) = server().await;
        let addr = server.url("/");
        let req = request(ProbePhase::Accept);
        let check = |query: &str, threshold: (&str, f64)| {
            let p = probe(&addr, query, threshold, &[]);
            let req = req.clone();
            async move {
                let r = p.check(&req).await;
                (r.passed, r.detail)
            }
        };
        assert_eq!(
            check("one", ("above", 0.0)).await,
            (true, "value 0.25 (wanted above 0)".into())
        );
        assert_eq!(
            check("one", ("above", 0.5)).await,
            (false, "value 0.25 (wanted above 0.5)".into())
        );
        assert_eq!(
            check("one", ("below", 0.5)).await,
            (true, "value 0.25 (wanted below 0.5)".into())
        );
        assert_eq!(
            check("scalar", ("equals", 4.0)).await,
            (true, "value 4 (wanted 4)".into())
        );
        assert_eq!(
            check("none", ("above", 0.0)).await,
            (
                false,
                "query returned no series: is the metric scraped? query: none".into()
            )
        );
        assert_eq!(
            check("three", ("above", 0.0)).await,
            (
                false,
                "query returned 3 series; aggregate it (e.g. sum(...))".into()
            )
        );
        assert_eq!(
            check("nan", ("above", 0.0)).await.1,
            "query returned NaN: query: nan"
        );
        assert!(
            check("range", ("above", 0.0))
                .await
                .1
                .starts_with("query returned a matrix")
        );
        assert_eq!(
            check("sum(rate(x[1m])) +", ("above", 0.0)).await.1,
            "Prometheus error (bad_data): 1:1: parse error: unexpected end of input"
        );
        assert_eq!(
            check("html", ("above", 0.0)).await.1,
            format!(
                "HTTP 200 from {}: not a Prometheus API response",
                server.addr()
            )
        );
        assert_eq!(
            check("odd", ("above", 0.0)).await.1,
            "not a Prometheus API response"
        );
        // Placeholders are filled in and the query is URL-encoded.
        let _ = check(
            r#"sum(ok{kid="${kid}",family="${family}"})"#,
            ("above", 0.0),
        )
        .await;
        assert_eq!(
            queries.lock().unwrap().last().unwrap(),
            r#"sum(ok{kid="kid-2026-11",family="signing"})"#
        );
        let r = probe(
            "http://rotor-probe.invalid:9090",
            "one",
            ("above", 0.0),
            &[],
        )
        .check(&req)
        .await;
        assert_eq!(r.detail, "DNS: no such host rotor-probe.invalid");
    }

    #[tokio::test]
    async fn a_guard_compares_with_the_baseline_measured_at_the_start() {
        let (server, _) = server().await;
        let guard = probe(
            &server.url(""),
            "scalar",
            ("max_increase", 1.0),
            &[ProbePhase::Guard],
        );
        let mut req = request(ProbePhase::Guard);
        assert_eq!(guard.measure(&req).await, Ok(4.0));
        let r = guard.check(&req).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (
                false,
                "value 4, but no baseline was recorded when the rotation started"
            )
        );
        req.baseline = Some(3.0);
        let r = guard.check(&req).await;
        assert_eq!(
            (r.passed, r.detail.as_str()),
            (true, "value 4 (baseline 3 + at most 1)")
        );
        req.baseline = Some(2.5);
        assert!(!guard.check(&req).await.passed);
        let none = probe(
            &server.url(""),
            "none",
            ("max_increase", 0.0),
            &[ProbePhase::Guard],
        );
        assert!(
            none.measure(&req)
                .await
                .unwrap_err()
                .starts_with("query returned no series")
        );
        assert!(!none.needs_material());
    }

    #[test]
    fn from_spec_wants_a_query_and_one_threshold() {
        let error = |on: &[ProbePhase], settings: &[(&str, SpecValue)]| {
            let e = PrometheusProbe::from_spec(&spec(on, settings), Path::new("/")).unwrap_err();
            (e.message, e.span.range.start)
        };
        let address = ("address", s("http://127.0.0.1:9090"));
        let query = ("query", s("up"));
        assert_eq!(
            error(&[], std::slice::from_ref(&address)),
            ("verify \"prometheus\" needs a `query` setting".into(), 0)
        );
        assert_eq!(
            error(&[], &[address.clone(), query.clone()]).0,
            "verify \"prometheus\" needs a threshold: `above`, `below`, `equals` or `max_increase`"
        );
        assert_eq!(
            error(
                &[],
                &[
                    address.clone(),
                    query.clone(),
                    ("above", n(1.0)),
                    ("below", n(2.0))
                ]
            ),
            (
                "`below` and `above` are both set: a probe has one threshold".into(),
                40
            )
        );
        assert_eq!(
            error(
                &[ProbePhase::Accept],
                &[address.clone(), query.clone(), ("max_increase", n(0.0))]
            )
            .1,
            30
        );
        assert_eq!(
            error(&[], &[address.clone(), query.clone(), ("abvoe", n(0.0))]),
            ("verify \"prometheus\" has no setting `abvoe`".into(), 30)
        );
        assert_eq!(
            error(&[], &[address.clone(), query.clone(), ("above", s("0"))]),
            (
                "`above` in verify \"prometheus\" must be a number, not a string".into(),
                30
            )
        );
    }
}
