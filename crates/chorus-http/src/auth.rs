//! How a request proves who it is.
//!
//! A closed set: a token in a query parameter, a bearer header, HTTP Basic (also with an API
//! key as the user name), an OAuth2 refresh token exchanged for access tokens, and a Google
//! service-account key whose RS256-signed JWT is exchanged at the key's own `token_uri`. Exchanged tokens are cached until shortly before
//! they expire, so a run makes one exchange, not one per page.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chorus_core::{Error, ErrorKind, Result, Secret};
use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde::Deserialize;
use sha2::Sha256;

/// How long before expiry a cached token is replaced.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// The fields of a Google service-account key file that the token flow uses.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// `client_email`: the JWT's issuer.
    pub client_email: String,
    /// `private_key`: PKCS#8 PEM.
    pub private_key: Secret,
    /// `private_key_id`: the JWT's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// `token_uri`: where the JWT is exchanged.
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    /// Parses a key file's JSON.
    /// Its `token_uri` receives a signed credential, so it follows the same rules as a
    /// `base_url` ([`crate::hosts::check_url`]).
    pub fn from_json(json: &str) -> Result<Self> {
        let key: Self = serde_json::from_str(json).map_err(|e| {
            Error::config(format!(
                "the service-account key is not valid key JSON ({}); download it again from the cloud console",
                e.classify_name()
            ))
        })?;
        crate::hosts::check_url("the key's token_uri", &key.token_uri)
            .map_err(|p| Error::config(format!("{}: {}", p.message, p.help)))?;
        Ok(key)
    }

    /// A signed JWT asking for `scopes`, issued at `now`.
    pub fn signed_jwt(&self, scopes: &[String], now: SystemTime) -> Result<String> {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.private_key_id {
            header["kid"] = serde_json::Value::String(kid.clone());
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scopes.join(" "),
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + 3600,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = PrivateKey::from_pkcs8_pem(self.private_key.expose()).map_err(|_| {
            Error::config("the service-account private_key is not a PKCS#8 PEM RSA key")
        })?;
        let signature = SigningKey::<Sha256>::new(key).sign(input.as_bytes());
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "a field is missing or of the wrong type",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// How requests of one source authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    /// No credentials.
    None,
    /// A token as a query parameter (`access_token=`).
    QueryToken {
        /// The parameter name.
        param: String,
        /// The token.
        token: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// HTTP Basic.
    Basic {
        /// The user name.
        user: String,
        /// The password or API token.
        password: Secret,
    },
    /// HTTP Basic whose user name is the credential: an API key as the user and a fixed
    /// password (Freshdesk's `api_key:X`), so the user name is redacted too.
    BasicKey {
        /// The API key, sent as the user name.
        key: Secret,
        /// The password that goes with it.
        password: String,
    },
    /// An OAuth2 refresh token exchanged for access tokens.
    OAuth2Refresh {
        /// The token endpoint.
        token_url: String,
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
        /// The refresh token.
        refresh_token: Secret,
    },
    /// A Google service-account key.
    ServiceAccount {
        /// The key.
        key: Box<ServiceAccountKey>,
        /// The OAuth scopes to ask for.
        scopes: Vec<String>,
    },
}

/// The base64 `user:password` of an `Authorization: Basic` header, as it goes on the wire.
fn basic_credentials(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

impl Auth {
    /// Every secret value the auth holds, for redaction.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Auth::None => Vec::new(),
            Auth::QueryToken { token, .. } | Auth::Bearer(token) => vec![token.expose().to_owned()],
            // Servers echo headers into error pages: the encoded credentials are secret too.
            Auth::Basic { user, password } => vec![
                password.expose().to_owned(),
                basic_credentials(user, password.expose()),
            ],
            Auth::BasicKey { key, password } => vec![
                key.expose().to_owned(),
                basic_credentials(key.expose(), password),
            ],
            Auth::OAuth2Refresh {
                client_secret,
                refresh_token,
                ..
            } => {
                vec![
                    client_secret.expose().to_owned(),
                    refresh_token.expose().to_owned(),
                ]
            }
            Auth::ServiceAccount { key, .. } => vec![key.private_key.expose().to_owned()],
        }
    }

    /// Whether requests carry a token obtained from an exchange.
    pub fn exchanges(&self) -> bool {
        matches!(
            self,
            Auth::OAuth2Refresh { .. } | Auth::ServiceAccount { .. }
        )
    }

    /// The token endpoint and form of the exchange, for exchanging auths.
    pub fn exchange_form(&self, now: SystemTime) -> Result<Option<TokenExchange>> {
        Ok(match self {
            Auth::OAuth2Refresh {
                token_url,
                client_id,
                client_secret,
                refresh_token,
            } => Some((
                token_url.clone(),
                vec![
                    ("grant_type".into(), "refresh_token".into()),
                    ("refresh_token".into(), refresh_token.expose().to_owned()),
                    ("client_id".into(), client_id.clone()),
                    ("client_secret".into(), client_secret.expose().to_owned()),
                ],
            )),
            Auth::ServiceAccount { key, scopes } => Some((
                key.token_uri.clone(),
                vec![
                    (
                        "grant_type".into(),
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                    ),
                    ("assertion".into(), key.signed_jwt(scopes, now)?),
                ],
            )),
            _ => None,
        })
    }
}

/// A token exchange: the endpoint and the form to post to it.
pub type TokenExchange = (String, Vec<(String, String)>);

/// A token endpoint's answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: Secret,
    /// Seconds until it expires.
    #[serde(default = "default_expiry")]
    pub expires_in: u64,
}

const fn default_expiry() -> u64 {
    3600
}

/// An error for a refused exchange: never retryable.
pub fn refused(reason: &str) -> Error {
    Error::new(
        ErrorKind::Auth,
        format!("the token exchange was refused: {reason}"),
    )
}
