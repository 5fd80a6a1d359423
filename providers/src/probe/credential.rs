//! Credentials an `http` probe makes with the version under test: a signed
//! JWT, an HMAC signature over the body, an API key header or basic auth,
//! read from its `credential` setting and the settings that go with it.
//!
//! Everything made here is material in another form (a token signed with
//! the key is as good as the key for its lifetime), so it is returned only as
//! a sensitive header value and dropped with the request. Errors name the
//! version and what was expected, never the bytes.

use crate::config::{ConfigError, Settings};
use crate::login::Login;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{KeyInit, Mac};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use rotor_engine::Duration;
use rotor_engine::SecretValue;
use rotor_engine::provider::ProbeRequest;
use sha2::Sha256;
use zeroize::Zeroizing;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The `credential` setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Credential {
    /// No credential: an unauthenticated request.
    None,
    /// `Authorization: Bearer <JWT>`, signed with the version's key
    /// (RS256, ES256, or HS256 for a random secret).
    BearerJwt {
        /// `iss`.
        issuer: Option<String>,
        /// `aud`.
        audience: Option<String>,
        /// `sub`.
        subject: Option<String>,
        /// `exp - iat`.
        ttl: Duration,
    },
    /// An HMAC-SHA256 of the body keyed with the material, in a header.
    Hmac {
        /// The header's name.
        header: String,
        /// Its value with `{hex}` or `{base64}` standing for the signature.
        format: String,
    },
    /// The material itself as the value of a header (an API key).
    Header {
        /// The header's name.
        name: String,
    },
    /// `Authorization: Basic`, the material as the password.
    Basic {
        /// The user; a `login` secret's own user name is used instead.
        username: Option<String>,
    },
}

/// Names of the credentials, for settings and messages.
pub const CREDENTIALS: [&str; 5] = ["bearer_jwt", "hmac", "header", "basic", "none"];

/// The lifetime of a probe's JWT when the spec sets no `token_ttl`.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::seconds(60);

/// Settings that belong to one credential only, with that credential.
pub(crate) const CREDENTIAL_SETTINGS: [(&str, &[&str]); 7] = [
    ("issuer", &["bearer_jwt"]),
    ("audience", &["bearer_jwt"]),
    ("subject", &["bearer_jwt"]),
    ("token_ttl", &["bearer_jwt"]),
    ("header", &["hmac", "header"]),
    ("signature", &["hmac"]),
    ("username", &["basic"]),
];

impl Credential {
    /// Reads a `verify "http"` block's `credential` setting (`none` when
    /// absent) and the settings that go with it; a setting of another
    /// credential is an error at that setting.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Credential, ConfigError> {
        let kind = match settings.string("credential")? {
            None => "none",
            Some((name, span)) => {
                CREDENTIALS
                    .into_iter()
                    .find(|c| *c == name)
                    .ok_or_else(|| {
                        let list = CREDENTIALS.join(", ");
                        let err = ConfigError::new(format!("unknown credential `{name}`"), span);
                        let prefix = CREDENTIALS
                            .into_iter()
                            .find(|c| c.starts_with(name) && !name.is_empty());
                        match prefix
                            .or_else(|| rotor_engine::diagnostics::did_you_mean(name, CREDENTIALS))
                        {
                            Some(s) => err.hint(format!("did you mean `{s}`? credentials: {list}")),
                            None => err.hint(format!("credentials: {list}")),
                        }
                    })?
            }
        };
        for (key, applies) in CREDENTIAL_SETTINGS {
            if let Some(value) = settings.map.get(key)
                && !applies.contains(&kind)
            {
                return Err(ConfigError::new(
                    format!("`{key}` does not apply to credential = \"{kind}\""),
                    &value.span,
                )
                .hint(format!(
                    "`{key}` is read with credential = \"{}\"; remove it or change the credential",
                    applies.join("\" or \"")
                )));
            }
        }
        let text = |key: &str| -> Result<Option<String>, ConfigError> {
            Ok(settings.string(key)?.map(|(s, _)| s.to_string()))
        };
        Ok(match kind {
            "bearer_jwt" => Credential::BearerJwt {
                issuer: text("issuer")?,
                audience: text("audience")?,
                subject: text("subject")?,
                ttl: settings
                    .duration("token_ttl")?
                    .map_or(DEFAULT_TOKEN_TTL, |(d, _)| d),
            },
            "hmac" => {
                let format = match settings.string("signature")? {
                    None => "sha256={hex}".to_string(),
                    Some((f, _)) if f.contains("{hex}") || f.contains("{base64}") => f.to_string(),
                    Some((_, span)) => {
                        return Err(ConfigError::new(
                            "`signature` must contain {hex} or {base64}, where the signature goes",
                            span,
                        )
                        .hint("for example \"sha256={hex}\""));
                    }
                };
                Credential::Hmac {
                    header: header_setting(settings, "X-Signature")?,
                    format,
                }
            }
            "header" => Credential::Header {
                name: header_setting(settings, "X-Api-Key")?,
            },
            "basic" => Credential::Basic {
                username: text("username")?,
            },
            _ => Credential::None,
        })
    }

    /// Whether the credential is made with the version's material.
    pub fn needs_material(&self) -> bool {
        !matches!(self, Credential::None)
    }

    /// The header carrying the credential for `request`, or why none could
    /// be made. `body` is the exact bytes an `hmac` signature covers; `now`
    /// is seconds since the epoch, for a JWT's `iat` and `exp`.
    pub fn header(
        &self,
        request: &ProbeRequest,
        body: &[u8],
        now: i64,
    ) -> Result<Option<(HeaderName, HeaderValue)>, String> {
        if matches!(self, Credential::None) {
            return Ok(None);
        }
        let Some(material) = request.material.as_deref() else {
            return Err(format!(
                "no material was read for {}: this is a bug in rotor",
                request.version
            ));
        };
        let (name, value): (HeaderName, Zeroizing<String>) = match self {
            Credential::None => return Ok(None),
            Credential::BearerJwt { .. } => {
                let token = self.jwt(request, material, now)?;
                (AUTHORIZATION, Zeroizing::new(format!("Bearer {}", *token)))
            }
            Credential::Hmac { header, format } => {
                let mut mac = HmacSha256::new_from_slice(material.expose())
                    .map_err(|_| "an HMAC key cannot be empty".to_string())?;
                mac.update(body);
                let sig = mac.finalize().into_bytes();
                let value = format
                    .replace("{hex}", &rotor_engine::state::hex(&sig))
                    .replace("{base64}", &STANDARD.encode(sig));
                (header_name(header)?, Zeroizing::new(value))
            }
            Credential::Header { name } => {
                let value = std::str::from_utf8(material.expose()).map_err(|_| {
                    format!(
                        "the material of {} is not text and cannot be sent in a header",
                        request.version
                    )
                })?;
                (header_name(name)?, Zeroizing::new(value.to_string()))
            }
            Credential::Basic { username } => {
                let (user, password) = basic_pair(material, username.as_deref(), request)?;
                let pair = Zeroizing::new(format!("{user}:{}", *password));
                (
                    AUTHORIZATION,
                    Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes()))),
                )
            }
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            format!(
                "the credential made with {} is not a valid header value (the material holds a line break or control character)",
                request.version
            )
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }

    /// A compact JWS: header `{alg, typ, kid}`, claims `iss`, `aud`, `sub`,
    /// `iat`, `exp`, `jti`.
    fn jwt(
        &self,
        request: &ProbeRequest,
        material: &SecretValue,
        now: i64,
    ) -> Result<Zeroizing<String>, String> {
        let Credential::BearerJwt {
            issuer,
            audience,
            subject,
            ttl,
        } = self
        else {
            unreachable!("jwt is only called for bearer_jwt");
        };
        let alg = request.algorithm.as_str();
        if !matches!(alg, "RS256" | "ES256" | "HS256") {
            return Err(format!(
                "bearer_jwt signs with an RS256, ES256 or HS256 key, but {} is {alg}",
                request.family
            ));
        }
        let header = serde_json::json!({ "alg": alg, "typ": "JWT", "kid": request.kid });
        let mut claims = serde_json::Map::new();
        let mut claim = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                claims.insert(k.into(), super::net::substitute(v, request).into());
            }
        };
        claim("iss", issuer);
        claim("aud", audience);
        claim("sub", subject);
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + ttl.as_millis() / 1000).into());
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti)
            .map_err(|e| format!("could not read the OS random source: {e}"))?;
        claims.insert("jti".into(), rotor_engine::state::hex(&jti).into());
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::Value::Object(claims).to_string())
        );
        let signature = sign(alg, material, signing_input.as_bytes())
            .map_err(|what| format!("the material of {} is not {what}", request.version))?;
        Ok(Zeroizing::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(&*signature)
        )))
    }
}

/// Signs with the JOSE algorithm `alg`; on failure, says what the material
/// should have been.
fn sign(alg: &str, material: &SecretValue, input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    let pem = || std::str::from_utf8(material.expose()).ok();
    match alg {
        "RS256" => {
            use rsa::pkcs8::DecodePrivateKey;
            use rsa::signature::{SignatureEncoding, Signer};
            let not = || "a PKCS#8 PEM RSA private key".to_string();
            let key = rsa::PrivateKey::from_pkcs8_pem(pem().ok_or_else(not)?).map_err(|_| not())?;
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key);
            let sig = signer.try_sign(input).map_err(|_| not())?;
            Ok(Zeroizing::new(sig.to_vec()))
        }
        "ES256" => {
            use p256::ecdsa::signature::Signer;
            use p256::pkcs8::DecodePrivateKey;
            let not = || "a PKCS#8 PEM P-256 private key".to_string();
            let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem().ok_or_else(not)?)
                .map_err(|_| not())?;
            // JOSE wants the raw r || s, 64 bytes, not DER.
            let sig: p256::ecdsa::Signature = key.try_sign(input).map_err(|_| not())?;
            Ok(Zeroizing::new(sig.to_bytes().to_vec()))
        }
        _ => {
            let mut mac = HmacSha256::new_from_slice(material.expose())
                .map_err(|_| "a non-empty secret".to_string())?;
            mac.update(input);
            Ok(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
        }
    }
}

/// The user and password for basic auth: a `login` secret (`{"username",
/// "password"}`) carries both; any other material is the password of `username`.
fn basic_pair(
    material: &SecretValue,
    username: Option<&str>,
    request: &ProbeRequest,
) -> Result<(String, Zeroizing<String>), String> {
    if let Some(login) = Login::parse(material.expose()) {
        // A login's password is JSON text: the lossy decoding never changes it.
        let password = String::from_utf8_lossy(login.password.expose()).into_owned();
        return Ok((login.username, Zeroizing::new(password)));
    }
    let Some(user) = username.map(|u| super::net::substitute(u, request)) else {
        return Err(format!(
            "basic needs a `username` setting: the material of {} is a password without one",
            request.version
        ));
    };
    let password = std::str::from_utf8(material.expose())
        .map_err(|_| format!("the material of {} is not text", request.version))?;
    Ok((user, Zeroizing::new(password.to_string())))
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))
}

/// The `header` setting, checked to be a header name.
fn header_setting(settings: &Settings, default: &str) -> Result<String, ConfigError> {
    match settings.string("header")? {
        None => Ok(default.to_string()),
        Some((name, span)) => match reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
            Ok(_) => Ok(name.to_string()),
            Err(_) => Err(
                ConfigError::new(format!("`{name}` is not an HTTP header name"), span)
                    .hint(format!("for example \"{default}\"")),
            ),
        },
    }
}
