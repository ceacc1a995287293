//! `channel_group`: GA4's default channel group from a session's source, medium and campaign.
//!
//! The rules are Google's published manual-traffic rules ([GA4] Default channel group,
//! support.google.com/analytics/answer/9756891), evaluated top-down, first match wins. Sources
//! are categorised with Google's source-category list (`data/ga4_source_categories.csv`, a
//! mirror of the downloadable list linked from that page). Matching is case-insensitive. A
//! NULL input counts as `(not set)`.
//!
//! Not covered: auto-tagged Google Ads, DV360 and SA360 traffic, which GA4 classifies by ad
//! network rather than by source and medium. Such sessions usually carry `google / cpc` and
//! land in "Paid Search".

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{AsArray, StringArray};
use arrow::datatypes::DataType;

use super::{Kpi, Param};

/// A source's category in Google's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Search,
    Social,
    Video,
    Shopping,
}

static SOURCES: LazyLock<HashMap<String, Category>> = LazyLock::new(|| {
    include_str!("../../data/ga4_source_categories.csv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (source, category) = line.rsplit_once(',')?;
            let category = match category.trim() {
                "SOURCE_CATEGORY_SEARCH" => Category::Search,
                "SOURCE_CATEGORY_SOCIAL" => Category::Social,
                "SOURCE_CATEGORY_VIDEO" => Category::Video,
                "SOURCE_CATEGORY_SHOPPING" => Category::Shopping,
                _ => return None,
            };
            Some((source.trim().to_lowercase(), category))
        })
        .collect()
});

/// `^(.*cp.*|ppc|retargeting|paid.*)$`
fn is_paid(medium: &str) -> bool {
    medium.contains("cp")
        || medium == "ppc"
        || medium == "retargeting"
        || medium.starts_with("paid")
}

/// `^(.*(([^a-df-z]|^)shop|shopping).*)$`: "shop" at the start or after anything but a
/// letter other than `e` (so `eshop` and `summer-shop` match, `workshop` does not), or
/// "shopping" anywhere.
fn is_shopping_campaign(campaign: &str) -> bool {
    if campaign.contains("shopping") {
        return true;
    }
    campaign.match_indices("shop").any(|(i, _)| {
        campaign[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_lowercase() && c != 'e'))
    })
}

fn is_email(s: &str) -> bool {
    matches!(s, "email" | "e-mail" | "e_mail" | "e mail")
}

/// The default channel group of a session.
pub fn group(source: Option<&str>, medium: Option<&str>, campaign: Option<&str>) -> &'static str {
    let norm =
        |s: Option<&str>| s.map_or_else(|| "(not set)".to_owned(), |s| s.trim().to_lowercase());
    let (source, medium, campaign) = (norm(source), norm(medium), norm(campaign));
    let (s, m, c) = (source.as_str(), medium.as_str(), campaign.as_str());
    let category = SOURCES.get(s).copied();
    let paid = is_paid(m);
    let shopping = category == Some(Category::Shopping) || is_shopping_campaign(c);

    if s == "(direct)" && matches!(m, "(not set)" | "(none)") {
        "Direct"
    } else if c.contains("cross-network") {
        "Cross-network"
    } else if shopping && paid {
        "Paid Shopping"
    } else if category == Some(Category::Search) && paid {
        "Paid Search"
    } else if category == Some(Category::Social) && paid {
        "Paid Social"
    } else if category == Some(Category::Video) && paid {
        "Paid Video"
    } else if matches!(
        m,
        "display" | "banner" | "expandable" | "interstitial" | "cpm"
    ) {
        "Display"
    } else if paid {
        "Paid Other"
    } else if shopping {
        "Organic Shopping"
    } else if category == Some(Category::Social)
        || matches!(
            m,
            "social" | "social-network" | "social-media" | "sm" | "social network" | "social media"
        )
    {
        "Organic Social"
    } else if category == Some(Category::Video) || m.contains("video") {
        "Organic Video"
    } else if category == Some(Category::Search) || m == "organic" {
        "Organic Search"
    } else if matches!(m, "referral" | "app" | "link") {
        "Referral"
    } else if is_email(s) || is_email(m) {
        "Email"
    } else if m == "affiliate" {
        "Affiliates"
    } else if m == "audio" {
        "Audio"
    } else if s == "sms" || m == "sms" {
        "SMS"
    } else if m.ends_with("push")
        || m.contains("mobile")
        || m.contains("notification")
        || s == "firebase"
    {
        "Mobile Push Notifications"
    } else {
        "Unassigned"
    }
}

/// `channel_group(source, medium, campaign)`: GA4's default channel group.
pub fn channel_group() -> Kpi {
    Kpi::new(
        "channel_group",
        &[Param::Text, Param::Text, Param::Text],
        DataType::Utf8,
        |args| {
            let (s, m, c) = (
                args[0].as_string::<i32>(),
                args[1].as_string::<i32>(),
                args[2].as_string::<i32>(),
            );
            let out: StringArray = s
                .iter()
                .zip(m.iter())
                .zip(c.iter())
                .map(|((s, m), c)| Some(group(s, m, c)))
                .collect();
            Arc::new(out)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_loads() {
        assert!(SOURCES.len() > 700);
        assert_eq!(SOURCES.get("igshopping"), Some(&Category::Shopping));
    }

    #[test]
    fn shop_campaigns() {
        assert!(is_shopping_campaign("summer-shop"));
        assert!(is_shopping_campaign("eshop"));
        assert!(is_shopping_campaign("shop"));
        assert!(is_shopping_campaign("xmas_shopping"));
        assert!(!is_shopping_campaign("workshop"));
    }
}
