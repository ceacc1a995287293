//! A small evaluator for X search queries: keywords, `"exact phrases"`, `#hashtags`,
//! `@mentions`, `from:`, `to:`, `lang:`, `is:retweet|reply|quote|verified`, `has:links|
//! mentions|hashtags`, negation with `-`, `OR`, and grouping with parentheses. A space is AND,
//! which binds tighter than OR (`a OR b c` is `a OR (b c)`). Matching is case-insensitive.

use super::dataset::{Dataset, Tweet};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Every part matches.
    And(Vec<Query>),
    /// Any part matches.
    Or(Vec<Query>),
    /// The part does not match.
    Not(Box<Query>),
    /// A word of the text (hashtags and mentions are not words).
    Keyword(String),
    /// Consecutive words of the text.
    Phrase(Vec<String>),
    /// A hashtag, without `#`.
    Hashtag(String),
    /// A mention, without `@`.
    Mention(String),
    /// `key:value` operators.
    Operator(String, String),
}

/// Why a query was refused, in X's words where known.
pub type QueryError = String;

fn tokens(query: &str) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '(' || c == ')' {
            out.push(c.to_string());
            chars.next();
            continue;
        }
        let mut word = String::new();
        while let Some(&ch) = chars.peek() {
            if ch.is_whitespace() || ch == '(' || ch == ')' {
                break;
            }
            chars.next();
            if ch == '"' {
                // A phrase, kept with its opening quote: `"a b` or `-"a b`.
                word.push('"');
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(inner) => word.push(inner),
                        None => return Err("There is an unterminated quote in the query".into()),
                    }
                }
                break;
            }
            word.push(ch);
        }
        out.push(word);
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn or(&mut self) -> Result<Query, QueryError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some("OR") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Query::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Query, QueryError> {
        let mut parts = Vec::new();
        while let Some(t) = self.peek() {
            if t == "OR" || t == ")" {
                break;
            }
            parts.push(self.unary()?);
        }
        match parts.len() {
            0 => Err("Ambiguous use of OR or an empty group".into()),
            1 => Ok(parts.remove(0)),
            _ => Ok(Query::And(parts)),
        }
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        let Some(t) = self.peek().map(str::to_owned) else {
            return Err("Unexpected end of query".into());
        };
        self.at += 1;
        if t == "(" {
            let inner = self.or()?;
            if self.peek() != Some(")") {
                return Err("There is a missing closing parenthesis".into());
            }
            self.at += 1;
            return Ok(inner);
        }
        if t == "-" {
            return Err("A negation must be followed by a term".into());
        }
        if let Some(rest) = t.strip_prefix('-') {
            let atom = atom(rest)?;
            return Ok(Query::Not(Box::new(atom)));
        }
        atom(&t)
    }
}

fn atom(t: &str) -> Result<Query, QueryError> {
    if let Some(phrase) = t.strip_prefix('"') {
        return Ok(Query::Phrase(words(phrase)));
    }
    if let Some(tag) = t.strip_prefix('#') {
        return Ok(Query::Hashtag(tag.to_lowercase()));
    }
    if let Some(user) = t.strip_prefix('@') {
        return Ok(Query::Mention(user.to_lowercase()));
    }
    if let Some((key, value)) = t.split_once(':')
        && !key.is_empty()
        && !value.is_empty()
    {
        let key = key.to_lowercase();
        let known = matches!(key.as_str(), "from" | "to" | "lang" | "is" | "has");
        if !known {
            return Err(format!(
                "Reference to invalid operator '{key}'. Operator is not available in current product or product packaging. Please refer to complete available operator list at https://developer.twitter.com/en/docs/twitter-api/enterprise/rules-and-filtering/operators-by-product."
            ));
        }
        return Ok(Query::Operator(key, value.to_lowercase()));
    }
    Ok(Query::Keyword(t.to_lowercase()))
}

/// The lowercase words of a text, without hashtags, mentions and links.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| {
        !(c.is_alphanumeric()
            || c == '#'
            || c == '@'
            || c == '\''
            || c == '/'
            || c == ':'
            || c == '.')
    })
    .map(|w| w.trim_matches(|c: char| c == '.' || c == ':' || c == '\''))
    .filter(|w| {
        !w.is_empty() && !w.starts_with('#') && !w.starts_with('@') && !w.starts_with("http")
    })
    .map(str::to_lowercase)
    .collect()
}

/// The lowercase `#tags` or `@handles` (by `sigil`) of a text.
fn marked(text: &str, sigil: char) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == sigil))
        .filter_map(|w| w.strip_prefix(sigil))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Query {
    /// Parses a query, refusing what X refuses: empty queries, unbalanced parentheses and
    /// quotes, unknown operators, and queries made only of operators that need a conjunction
    /// (`is:`, `has:`, `lang:`).
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        let tokens = tokens(query)?;
        if tokens.is_empty() {
            return Err("The `query` query parameter can not be empty".into());
        }
        let mut p = Parser { tokens, at: 0 };
        let q = p.or()?;
        if p.at != p.tokens.len() {
            return Err("There is an unmatched closing parenthesis".into());
        }
        if !q.has_standalone() {
            return Err("There were errors processing your request: Reference to a conjunction-required operator such as is:, has: or lang: cannot stand alone".into());
        }
        Ok(q)
    }

    /// Whether the query has a term that can match on its own (not negated, not `is:`,
    /// `has:` or `lang:`) in every alternative.
    fn has_standalone(&self) -> bool {
        match self {
            Query::And(parts) => parts.iter().any(Query::has_standalone),
            Query::Or(parts) => parts.iter().all(Query::has_standalone),
            Query::Not(_) => false,
            Query::Operator(k, _) => matches!(k.as_str(), "from" | "to"),
            _ => true,
        }
    }

    /// Whether a post matches.
    pub fn matches(&self, tweet: &Tweet, data: &Dataset) -> bool {
        match self {
            Query::And(parts) => parts.iter().all(|q| q.matches(tweet, data)),
            Query::Or(parts) => parts.iter().any(|q| q.matches(tweet, data)),
            Query::Not(q) => !q.matches(tweet, data),
            Query::Keyword(k) => words(&tweet.text).iter().any(|w| w == k),
            Query::Phrase(p) => {
                let w = words(&tweet.text);
                !p.is_empty() && w.windows(p.len()).any(|win| win == p.as_slice())
            }
            Query::Hashtag(tag) => marked(&tweet.text, '#').iter().any(|t| t == tag),
            Query::Mention(user) => marked(&tweet.text, '@').iter().any(|t| t == user),
            Query::Operator(key, value) => match key.as_str() {
                "from" => data.users[tweet.author]
                    .username
                    .eq_ignore_ascii_case(value),
                "to" => tweet
                    .in_reply_to
                    .is_some_and(|u| data.users[u].username.eq_ignore_ascii_case(value)),
                "lang" => tweet.lang == value,
                "is" => match value.as_str() {
                    "retweet" => tweet.is_retweet(),
                    "reply" => tweet.is_reply(),
                    "quote" => tweet.is_quote(),
                    "verified" => data.users[tweet.author].verified,
                    _ => false,
                },
                "has" => match value.as_str() {
                    "links" => tweet.text.contains("https://"),
                    "mentions" => !marked(&tweet.text, '@').is_empty(),
                    "hashtags" => !marked(&tweet.text, '#').is_empty(),
                    _ => false,
                },
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_binds_looser_than_and() {
        let q = Query::parse("apple OR iphone ipad").unwrap();
        assert_eq!(
            q,
            Query::Or(vec![
                Query::Keyword("apple".into()),
                Query::And(vec![
                    Query::Keyword("iphone".into()),
                    Query::Keyword("ipad".into())
                ])
            ])
        );
    }

    #[test]
    fn refuses_what_x_refuses() {
        assert!(Query::parse("").is_err());
        assert!(Query::parse("(acme").is_err());
        assert!(Query::parse("acme)").is_err());
        assert!(Query::parse("is:retweet").is_err());
        assert!(Query::parse("-acme").is_err());
        assert!(Query::parse("bogus:1 acme").is_err());
        assert!(Query::parse("acme OR #acme -is:retweet").is_ok());
        assert!(Query::parse("\"customer service\" @acme").is_ok());
    }
}
