//! The declarative source mapping: how one upstream system's records become canonical events.
//!
//! The three upstream systems of the spec are built-in presets of this one format
//! (`crates/normalize/mappings/*.toml`); a new department system is onboarded with a mapping file
//! of its own, without code. Every field of the format is documented in `docs/mappings.md`.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One source's mapping, as written in a TOML (or JSON) mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceMapping {
    /// Source name; appears in every event (`source`) and rejection.
    pub name: String,
    /// `application` or `work_order`.
    pub case_kind: CaseKindName,
    /// WHATWG encoding label of the raw bytes (`utf-8`, `gb18030`, `gbk`, ...).
    #[serde(default = "default_encoding")]
    pub encoding: String,
    pub format: FormatSpec,
    /// A record longer than this (bytes, before decoding) is rejected as `oversize`.
    #[serde(default = "default_max_bytes")]
    pub max_record_bytes: usize,
    /// Offset of local-time formats (`+08:00` = Beijing time, the default).
    #[serde(default)]
    pub utc_offset: Option<String>,
    /// A named IANA zone for local-time formats, with its daylight saving time
    /// (`America/New_York`); instead of `utc_offset`.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `gb2260` (the default: 6- or 12-digit GB/T 2260 codes, kept as the 6-digit county) or
    /// `own`: the source's own region codes (a borough, a community board), kept as written.
    #[serde(default)]
    pub regions: RegionCodes,
    /// The working-day calendar of this source's cases: `national` (the default: the
    /// deployment's calendar with its overlays), `weekdays` (Monday to Friday, no holidays), or
    /// the path of a calendar file in the format of `data/calendar/cn.json` (relative to the
    /// mapping file).
    #[serde(default)]
    pub calendar: Option<String>,
    /// Fields whose values, joined with `|`, form the record id (the dedupe key).
    pub record_id: Vec<String>,
    /// Field holding the case id.
    pub case_id: String,
    /// Field holding the stage / action code; its values are the keys of `stages`. Without
    /// it the records are **snapshot rows**: every stage rule whose time field is filled (and
    /// whose `when` holds) gives one event, with the record id `<record id>#<stage key>`.
    #[serde(default)]
    pub stage_field: Option<String>,
    /// Snapshot rows only: a version column. Of a case's rows, the one with the highest
    /// version supersedes the others, whatever their order.
    #[serde(default)]
    pub version: Option<VersionSpec>,
    /// Fields every record must have (checked before the stage code).
    #[serde(default)]
    pub required: Vec<String>,
    /// Declared JSON types of fields: `string`, `integer` or `code` (the default: a string, or a
    /// JSON integer read as its decimal digits).
    #[serde(default)]
    pub fields: BTreeMap<String, FieldType>,
    /// Assignments applied to records of every stage (before the stage's own).
    #[serde(default)]
    pub common: BTreeMap<String, Assign>,
    /// Stage code → rule.
    pub stages: BTreeMap<String, StageRule>,
    /// Code tables: source code → canonical value.
    #[serde(default)]
    pub tables: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RegionCodes {
    #[default]
    Gb2260,
    Own,
}

/// The version column of snapshot rows: a whole number, or (with `format`) a local time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    pub field: String,
    /// A time format (as a stage's): the version is that instant. Without it, a whole number.
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CaseKindName {
    Application,
    WorkOrder,
    /// Versioned rows of the service-item catalogue, not cases (spec: sources.md §4).
    Listing,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FormatSpec {
    /// One JSON object per record. Field names may be dotted paths into nested objects.
    Json,
    /// Delimited text without quoting: the decoded line is split on `separator`.
    Delimited {
        separator: char,
        columns: Vec<String>,
    },
    /// RFC 4180 CSV: quoted fields may hold separators, `""` quotes and line breaks. Field
    /// names are column names of the header row (files: the first record of each file, bound
    /// by name, so extra and reordered columns are fine), or the `columns` declared here (the
    /// header of the export; needed for Kafka, where a message is one row without a header).
    Csv {
        #[serde(default = "default_comma")]
        separator: char,
        #[serde(default)]
        columns: Option<Vec<String>>,
    },
}

fn default_comma() -> char {
    ','
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A JSON integer (no quotes, no fraction).
    Integer,
    /// A JSON string, or a JSON integer taken as its decimal digits (`1` = `"1"`).
    #[default]
    Code,
    /// A number: a JSON integer or a string of decimal digits, the same number whichever way it
    /// is written (`3` = `"3"` = `"03"`; a record id writes it in decimal). Any other string
    /// is kept as it is (and rejected by an assignment that needs a number).
    Number,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRule {
    /// Canonical stage name (`SUBMIT`, `ACCEPT`, ..., `REGISTER`, `DISPATCH`, ...).
    pub stage: String,
    /// The stage's own time field and its format.
    pub time: TimeSpec,
    /// Fields this stage needs (the time field is always needed).
    #[serde(default)]
    pub required: Vec<String>,
    /// Canonical field → assignment.
    #[serde(default)]
    pub set: BTreeMap<String, Assign>,
    /// Snapshot rows: the stage exists only when this holds (e.g. a status column).
    #[serde(default)]
    pub when: Option<When>,
    /// Work orders: an explicit deadline instant (a due-date column), instead of a limit in
    /// days. Blank: no explicit deadline.
    #[serde(default)]
    pub due: Option<TimeSpec>,
}

/// A condition on a field's code: exactly one of `in` and `not_in`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub field: String,
    #[serde(default, rename = "in")]
    pub is_in: Option<Vec<String>>,
    #[serde(default)]
    pub not_in: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub field: String,
    /// `rfc3339` (offset required), or a local pattern of `yyyy MM dd HH mm ss` and literals,
    /// read in the source's `utc_offset`.
    pub format: String,
}

/// Where a canonical field's value comes from.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// Source field (dotted path for JSON).
    #[serde(default)]
    pub field: Option<String>,
    /// A constant canonical value (instead of `field`).
    #[serde(default)]
    pub value: Option<String>,
    /// Code table the source value is looked up in.
    #[serde(default)]
    pub table: Option<String>,
    /// Canonical value when the field is absent, null or blank.
    #[serde(default)]
    pub default: Option<String>,
    /// Text prepended to the value (e.g. `BDC-`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Use a constant canonical value instead when another field has a given code.
    #[serde(default)]
    pub ignore_when: Option<IgnoreWhen>,
    /// Canonical value for a code that is not in `table` (instead of rejecting the record as
    /// `unknown_code`): for open-ended code lists such as a 311 complaint type.
    #[serde(default)]
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreWhen {
    pub field: String,
    pub equals: String,
    pub value: String,
}

fn default_encoding() -> String {
    "utf-8".to_owned()
}
fn default_max_bytes() -> usize {
    1_048_576
}

/// The built-in presets, by name.
pub const PRESETS: [(&str, &str); 4] = [
    ("hotline", include_str!("../mappings/hotline.toml")),
    ("onenet", include_str!("../mappings/onenet.toml")),
    ("bdc", include_str!("../mappings/bdc.toml")),
    ("catalogue", include_str!("../mappings/catalogue.toml")),
];

impl SourceMapping {
    /// Parses a mapping file (TOML).
    pub fn from_toml(text: &str) -> Result<SourceMapping, toml::de::Error> {
        toml::from_str(text)
    }

    /// A built-in preset (`hotline`, `onenet`, `bdc`, `catalogue`).
    pub fn preset(name: &str) -> Option<SourceMapping> {
        let (_, text) = PRESETS.iter().find(|(n, _)| *n == name)?;
        // The presets are checked by the tests; failing to parse one is a build defect.
        Some(SourceMapping::from_toml(text).expect("built-in preset parses"))
    }
}
