//! Price quotes: on-demand list prices from the AWS Pricing API (GetProducts for
//! Linux, shared tenancy, no pre-installed software, capacity status used, in the region's
//! location name), cached 24 h per type and region; spot prices from DescribeSpotPriceHistory
//! for the type and AZ. Every failure is logged and answers "no quote".

use crate::ec2::Ec2Compute;
use aws_sdk_ec2::types::InstanceType;
use aws_sdk_pricing::types::{Filter, FilterType};
use pacer_domain::{Market, Micros, PriceQuote, PriceSource};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long an on-demand list price is reused.
pub(crate) const PRICE_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The Pricing API's `location` of each commercial region.
pub(crate) const REGION_LOCATIONS: &[(&str, &str)] = &[
    ("af-south-1", "Africa (Cape Town)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("ap-east-2", "Asia Pacific (Taipei)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ap-southeast-5", "Asia Pacific (Malaysia)"),
    ("ap-southeast-6", "Asia Pacific (New Zealand)"),
    ("ap-southeast-7", "Asia Pacific (Thailand)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("eu-central-1", "EU (Frankfurt)"),
    ("eu-central-2", "EU (Zurich)"),
    ("eu-north-1", "EU (Stockholm)"),
    ("eu-south-1", "EU (Milan)"),
    ("eu-south-2", "EU (Spain)"),
    ("eu-west-1", "EU (Ireland)"),
    ("eu-west-2", "EU (London)"),
    ("eu-west-3", "EU (Paris)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("me-central-1", "Middle East (UAE)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("mx-central-1", "Mexico (Central)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
];

/// The Pricing API location name of `region`.
pub(crate) fn location_of(region: &str) -> Option<&'static str> {
    REGION_LOCATIONS.iter().find(|(r, _)| *r == region).map(|(_, l)| *l)
}

/// (instance type, region).
type PriceKey = (String, String);

/// On-demand list prices by (instance type, region), with the time they were fetched.
#[derive(Clone, Debug, Default)]
pub(crate) struct PriceCache(Arc<Mutex<HashMap<PriceKey, (Instant, Micros)>>>);

impl PriceCache {
    fn get(&self, key: &(String, String)) -> Option<Micros> {
        let map = self.0.lock().ok()?;
        map.get(key).filter(|(at, _)| at.elapsed() < PRICE_TTL).map(|(_, price)| *price)
    }

    fn put(&self, key: (String, String), price: Micros) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(key, (Instant::now(), price));
        }
    }
}

/// The hourly on-demand USD price in one GetProducts `PriceList` item (a JSON document).
/// Prefers the plain `RunInstances` operation when several products match.
pub(crate) fn on_demand_price(price_list: &[String]) -> Option<Micros> {
    let products: Vec<serde_json::Value> =
        price_list.iter().filter_map(|item| serde_json::from_str(item).ok()).collect();
    let operation = |p: &serde_json::Value| {
        p.pointer("/product/attributes/operation").and_then(|o| o.as_str()).map(str::to_owned)
    };
    let best = products
        .iter()
        .find(|p| operation(p).as_deref() == Some("RunInstances"))
        .or_else(|| products.first())?;
    let terms = best.pointer("/terms/OnDemand")?.as_object()?;
    terms.values().find_map(|term| {
        term.get("priceDimensions")?
            .as_object()?
            .values()
            .find_map(|dim| dim.pointer("/pricePerUnit/USD")?.as_str().and_then(Micros::parse_usd))
    })
}

fn term(field: &str, value: &str) -> Option<Filter> {
    Filter::builder().r#type(FilterType::TermMatch).field(field).value(value).build().ok()
}

impl Ec2Compute {
    #[tracing::instrument(skip_all, fields(instance_type = %instance_type, availability_zone = %availability_zone, market = market.as_str()))]
    pub(crate) async fn price_impl(
        &self,
        instance_type: &str,
        availability_zone: &str,
        market: Market,
    ) -> Option<PriceQuote> {
        match market {
            Market::OnDemand => self
                .on_demand(instance_type)
                .await
                .map(|per_hour| PriceQuote { per_hour, source: PriceSource::OnDemandList }),
            Market::Spot => self
                .spot(instance_type, availability_zone)
                .await
                .map(|per_hour| PriceQuote { per_hour, source: PriceSource::SpotHistory }),
        }
    }

    async fn on_demand(&self, instance_type: &str) -> Option<Micros> {
        let key = (instance_type.to_owned(), self.region.clone());
        if let Some(price) = self.prices.get(&key) {
            return Some(price);
        }
        let Some(location) = location_of(&self.region) else {
            tracing::warn!(region = %self.region, "no pricing location for region");
            return None;
        };
        let filters = [
            term("instanceType", instance_type),
            term("location", location),
            term("operatingSystem", "Linux"),
            term("tenancy", "Shared"),
            term("preInstalledSw", "NA"),
            term("capacitystatus", "Used"),
        ];
        let out = self
            .pricing
            .get_products()
            .service_code("AmazonEC2")
            .set_filters(Some(filters.into_iter().collect::<Option<Vec<_>>>()?))
            .format_version("aws_v1")
            .max_results(20)
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %crate::error::from_sdk(&e), "on-demand price unavailable");
                return None;
            }
        };
        let Some(price) = on_demand_price(out.price_list()) else {
            tracing::warn!(products = out.price_list().len(), "no on-demand price in the price list");
            return None;
        };
        self.prices.put(key, price);
        Some(price)
    }

    async fn spot(&self, instance_type: &str, availability_zone: &str) -> Option<Micros> {
        let mut request = self
            .ec2
            .describe_spot_price_history()
            .instance_types(InstanceType::from(instance_type))
            .product_descriptions("Linux/UNIX")
            .start_time(aws_sdk_ec2::primitives::DateTime::from(std::time::SystemTime::now()));
        if !availability_zone.is_empty() {
            request = request.availability_zone(availability_zone);
        }
        let out = match request.send().await {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(error = %crate::error::from_sdk(&e), "spot price unavailable");
                return None;
            }
        };
        let latest = out
            .spot_price_history()
            .iter()
            .filter(|p| availability_zone.is_empty() || p.availability_zone() == Some(availability_zone))
            .filter(|p| p.instance_type().is_none_or(|t| t.as_str() == instance_type))
            .filter(|p| p.product_description().is_none_or(|d| d.as_str().starts_with("Linux/UNIX")))
            .max_by_key(|p| p.timestamp().map(|t| (t.secs(), t.subsec_nanos())));
        let price = latest.and_then(|p| p.spot_price()).and_then(Micros::parse_usd);
        if price.is_none() {
            tracing::warn!("no spot price in the history");
        }
        price
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_region_has_one_location() {
        let mut regions: Vec<_> = REGION_LOCATIONS.iter().map(|(r, _)| *r).collect();
        regions.dedup();
        assert_eq!(regions.len(), REGION_LOCATIONS.len());
        assert_eq!(location_of("us-east-1"), Some("US East (N. Virginia)"));
        assert_eq!(location_of("eu-west-1"), Some("EU (Ireland)"));
        assert_eq!(location_of("mars-1"), None);
    }

    #[test]
    fn reads_the_on_demand_dimension() {
        let item = r#"{"product":{"attributes":{"operation":"RunInstances"}},
            "terms":{"OnDemand":{"X.JRTCKXETXF":{"priceDimensions":{"X.JRTCKXETXF.6YS6EN2CT7":
            {"unit":"Hrs","pricePerUnit":{"USD":"0.0960000000"}}}}}}}"#;
        assert_eq!(on_demand_price(&[item.to_owned()]), Some(Micros(96_000)));
        assert_eq!(on_demand_price(&["not json".to_owned()]), None);
        assert_eq!(on_demand_price(&[]), None);
    }
}
