//! A compiled source mapping and the normalization of one record.
//!
//! Checks run in the spec's precedence order (sources.md, "Rejection rules"):
//! oversize → bad_encoding → malformed_json / field count → a field every record needs →
//! unknown stage code → a field the stage needs → bad_timestamp → time_out_of_range → other
//! unknown codes.

use crate::mapping::{Assign, CaseKindName, FieldType, FormatSpec, RegionCodes, SourceMapping};
use crate::pseudonym::PseudonymKey;
use crate::reject::{Reason, Rejection};
use govstream_calendar::civil::{parse_rfc3339, Day, LocalPattern, Timestamp};
use govstream_calendar::Zone;
use govstream_proto::v1 as pb;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Where each referenced column is among `header`'s, and the header's width; an error naming
/// the first referenced column the header lacks, or has twice.
fn project(referenced: &[String], header: &[String]) -> Result<(Vec<usize>, usize), String> {
    let idx = referenced
        .iter()
        .map(|r| {
            let mut at = header
                .iter()
                .enumerate()
                .filter(|(_, h)| *h == r)
                .map(|(i, _)| i);
            match (at.next(), at.next()) {
                (Some(i), None) => Ok(i),
                (None, _) => Err(format!("no column `{r}`")),
                (Some(_), Some(_)) => Err(format!("column `{r}` twice")),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((idx, header.len()))
}

/// A mapping that cannot be used, with the reason in words.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("mapping file is not valid TOML or has unknown keys: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("source `{source_name}`: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// Earliest accepted instant: 2000-01-01T00:00+08:00.
pub const MIN_INSTANT: i64 = 946_656_000_000_000;
/// First instant past the accepted range: 2100-01-01T00:00+08:00.
pub const MAX_INSTANT_EXCLUSIVE: i64 = 4_102_416_000_000_000;

/// Canonical fields an assignment can set.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Target {
    Region,
    /// `region` of a source with its own region codes (`regions = "own"`): text as written.
    RegionText,
    Department,
    ServiceItem,
    Category,
    Channel,
    LimitDays,
    LimitUnit,
    LegalDays,
    ItemType,
    SignLimitHours,
    ExtraDays,
    StepType,
    Onsite,
    Result,
    Delivery,
    EvaluationLevel,
    Satisfaction,
    CallerPseudonym,
    ListingVersion,
    ListingStatus,
    MaxVisits,
    OnlineDepth,
}

impl Target {
    const ALL: [(&'static str, Target); 22] = [
        ("region", Target::Region),
        ("department", Target::Department),
        ("service_item", Target::ServiceItem),
        ("category", Target::Category),
        ("channel", Target::Channel),
        ("limit_days", Target::LimitDays),
        ("limit_unit", Target::LimitUnit),
        ("legal_days", Target::LegalDays),
        ("item_type", Target::ItemType),
        ("sign_limit_hours", Target::SignLimitHours),
        ("extra_days", Target::ExtraDays),
        ("step_type", Target::StepType),
        ("onsite", Target::Onsite),
        ("result", Target::Result),
        ("delivery", Target::Delivery),
        ("evaluation_level", Target::EvaluationLevel),
        ("satisfaction", Target::Satisfaction),
        ("caller_pseudonym", Target::CallerPseudonym),
        ("listing_version", Target::ListingVersion),
        ("listing_status", Target::ListingStatus),
        ("max_visits", Target::MaxVisits),
        ("online_depth", Target::OnlineDepth),
    ];

    fn parse(name: &str) -> Option<Target> {
        Target::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    /// Parses a canonical value for this target (table entries, constants, defaults).
    fn canonical(self, v: &str) -> Option<Canon> {
        fn en(prefix: &str, v: &str, f: fn(&str) -> Option<i32>) -> Option<Canon> {
            f(&format!("{prefix}{v}")).map(Canon::Enum)
        }
        let uint = |lo: u32, hi: u32| {
            digits_u32(v)
                .filter(|n| (lo..=hi).contains(n))
                .map(Canon::UInt)
        };
        match self {
            Target::Region => region6(v).map(|r| Canon::Text(r.to_owned())),
            Target::RegionText => {
                let t = v.trim();
                (!t.is_empty() && t.len() <= 64).then(|| Canon::Text(t.to_owned()))
            }
            Target::Department | Target::ServiceItem => Some(Canon::Text(v.to_owned())),
            Target::Category => en("CATEGORY_", v, |s| {
                pb::Category::from_str_name(s).map(|e| e as i32)
            }),
            Target::Channel => en("CHANNEL_", v, |s| {
                pb::Channel::from_str_name(s).map(|e| e as i32)
            }),
            Target::LimitUnit => en("LIMIT_UNIT_", v, |s| {
                pb::LimitUnit::from_str_name(s).map(|e| e as i32)
            }),
            Target::ItemType => en("ITEM_TYPE_", v, |s| {
                pb::ItemType::from_str_name(s).map(|e| e as i32)
            }),
            Target::StepType => en("STEP_TYPE_", v, |s| {
                pb::StepType::from_str_name(s).map(|e| e as i32)
            }),
            Target::Result => en("RESULT_", v, |s| {
                pb::Result::from_str_name(s).map(|e| e as i32)
            }),
            Target::Delivery => en("DELIVERY_", v, |s| {
                pb::Delivery::from_str_name(s).map(|e| e as i32)
            }),
            Target::Satisfaction => en("SATISFACTION_", v, |s| {
                pb::Satisfaction::from_str_name(s).map(|e| e as i32)
            }),
            Target::Onsite => match v {
                "true" => Some(Canon::Bool(true)),
                "false" => Some(Canon::Bool(false)),
                _ => None,
            },
            Target::LimitDays | Target::LegalDays | Target::ExtraDays => uint(0, 100_000),
            Target::SignLimitHours => uint(1, 100_000),
            Target::ListingVersion => uint(1, 999_999_999),
            Target::MaxVisits => uint(0, 100_000),
            Target::OnlineDepth => uint(1, 4),
            Target::ListingStatus => en("LISTING_STATUS_", v, |s| {
                pb::ListingStatus::from_str_name(s).map(|e| e as i32)
            }),
            Target::EvaluationLevel => uint(1, 5),
            Target::CallerPseudonym => None,
        }
    }

    fn allowed(self) -> &'static str {
        match self {
            Target::Region => "a region code of 6 or 12 digits",
            Target::RegionText => "a region code (text of at most 64 bytes)",
            Target::LimitDays | Target::LegalDays | Target::ExtraDays => {
                "a whole number of days >= 0"
            }
            Target::SignLimitHours => "a whole number of hours > 0",
            Target::ListingVersion => "a version number >= 1",
            Target::MaxVisits => "a whole number of visits >= 0",
            Target::OnlineDepth => "a depth from 1 to 4",
            Target::EvaluationLevel => "a level from 1 to 5",
            _ => "a value of its code table",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Canon {
    Text(String),
    Enum(i32),
    UInt(u32),
    Bool(bool),
}

fn digits_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The 6-digit county of a 6- or 12-digit GB/T 2260 code.
fn region6(s: &str) -> Option<&str> {
    ((s.len() == 6 || s.len() == 12) && s.bytes().all(|b| b.is_ascii_digit())).then(|| &s[..6])
}

/// Where a field lives in a record.
#[derive(Clone, Debug)]
enum Location {
    /// A JSON field's slot in the source's field index.
    Slot(u16),
    Column(usize),
}

#[derive(Clone, Debug)]
struct FieldDef {
    name: String,
    location: Location,
    ftype: FieldType,
}

type FieldId = usize;

#[derive(Clone, Debug)]
enum Source {
    Field {
        field: FieldId,
        table: Option<(String, HashMap<String, Canon>)>,
        default: Option<Canon>,
        prefix: String,
        ignore_when: Option<(FieldId, String, Canon)>,
        /// For a code not in `table`.
        fallback: Option<Canon>,
    },
    Const(Canon),
}

#[derive(Clone, Debug)]
struct CompiledAssign {
    target: Target,
    target_name: String,
    source: Source,
}

#[derive(Clone, Debug)]
enum TimeFormat {
    Rfc3339,
    Local(LocalPattern),
}

#[derive(Clone, Debug)]
struct CompiledStage {
    /// The key of the rule in `stages` (snapshot rows: part of the derived record id).
    key: String,
    stage: pb::Stage,
    time_field: FieldId,
    time_format: TimeFormat,
    required: Vec<FieldId>,
    assigns: Vec<CompiledAssign>,
    /// Snapshot rows: (field, codes, whether the codes are the ones that allow the stage).
    when: Option<(FieldId, Vec<String>, bool)>,
    /// An explicit deadline instant.
    due: Option<(FieldId, TimeFormat)>,
}

/// How the raw bytes of a record are split into fields.
#[derive(Clone, Debug)]
enum Format {
    Json,
    Delimited(char, usize),
    /// RFC 4180. `referenced` are the column names the mapping uses (a field's
    /// `Location::Column` indexes them); `bound` holds where each referenced column is in a
    /// row and the row's field count — from a header (declared `columns`, or a file's first
    /// record via [`CompiledSource::bind_header`]); `None` until one is known.
    Csv {
        separator: char,
        referenced: Vec<String>,
        bound: Option<(Vec<usize>, usize)>,
    },
}

/// A source mapping ready to normalize records.
#[derive(Clone, Debug)]
pub struct CompiledSource {
    name: String,
    case_kind: pb::CaseKind,
    encoding: &'static encoding_rs::Encoding,
    format: Format,
    max_bytes: usize,
    zone: Zone,
    fields: Vec<FieldDef>,
    index: crate::json::FieldIndex,
    record_id: Vec<FieldId>,
    case_id: FieldId,
    /// `None`: snapshot rows (every stage with a filled time field is an event).
    stage_field: Option<FieldId>,
    /// Snapshot rows: the version column (`Some(format)`: a time; `None`: a number).
    version: Option<(FieldId, Option<TimeFormat>)>,
    required: Vec<FieldId>,
    common: Vec<CompiledAssign>,
    stages: HashMap<String, CompiledStage>,
    /// The stage rules in key order (snapshot rows emit their events in this order).
    stage_list: Vec<CompiledStage>,
    stage_codes: String,
    key: Arc<PseudonymKey>,
    calendar: CalendarChoice,
}

/// A source's working-day calendar (the mapping's `calendar`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CalendarChoice {
    /// The deployment's calendar.
    National,
    /// Monday to Friday, no holidays.
    Weekdays,
    /// An operator's calendar file (as written in the mapping: relative to its file).
    File(std::path::PathBuf),
}

struct Compiler<'m> {
    m: &'m SourceMapping,
    fields: Vec<FieldDef>,
    index: crate::json::FieldIndex,
    /// CSV: column names referenced so far.
    csv_columns: Vec<String>,
}

impl Compiler<'_> {
    fn err(&self, message: impl Into<String>) -> MappingError {
        MappingError::Invalid {
            source_name: self.m.name.clone(),
            message: message.into(),
        }
    }

    fn field(&mut self, name: &str) -> Result<FieldId, MappingError> {
        if let Some(i) = self.fields.iter().position(|f| f.name == name) {
            return Ok(i);
        }
        let location = match &self.m.format {
            FormatSpec::Json => {
                if name.is_empty() || name.split('.').any(str::is_empty) {
                    return Err(self.err(format!("field path `{name}` is not valid")));
                }
                let path: Vec<String> = name.split('.').map(str::to_owned).collect();
                Location::Slot(self.index.add(&path).ok_or_else(|| {
                    self.err(format!("field path `{name}` is deeper than two keys"))
                })?)
            }
            FormatSpec::Delimited { columns, .. } => Location::Column(
                columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| self.err(format!("field `{name}` is not one of the columns")))?,
            ),
            FormatSpec::Csv { columns, .. } => {
                if let Some(cols) = columns {
                    if !cols.iter().any(|c| c == name) {
                        return Err(
                            self.err(format!("field `{name}` is not one of `format.columns`"))
                        );
                    }
                }
                self.csv_columns.push(name.to_owned());
                Location::Column(self.csv_columns.len() - 1)
            }
        };
        let ftype = self.m.fields.get(name).copied().unwrap_or_default();
        self.fields.push(FieldDef {
            name: name.to_owned(),
            location,
            ftype,
        });
        Ok(self.fields.len() - 1)
    }

    fn time_format(&self, what: &str, format: &str) -> Result<TimeFormat, MappingError> {
        if format == "rfc3339" {
            return Ok(TimeFormat::Rfc3339);
        }
        LocalPattern::new(format).map(TimeFormat::Local).ok_or_else(|| {
            self.err(format!(
                "{what}: time format `{format}` is neither `rfc3339` nor a pattern with yyyy, a month and a day (docs/mappings.md \"Time formats\")"
            ))
        })
    }

    fn assign(&mut self, target_name: &str, a: &Assign) -> Result<CompiledAssign, MappingError> {
        let target = Target::parse(target_name).ok_or_else(|| {
            self.err(format!(
                "`{target_name}` is not a canonical field (one of: {})",
                Target::ALL.map(|(n, _)| n).join(", ")
            ))
        })?;
        let target = match (target, self.m.regions) {
            (Target::Region, RegionCodes::Own) => Target::RegionText,
            (t, _) => t,
        };
        let canon = |c: &Compiler, what: &str, v: &str| {
            target.canonical(v).ok_or_else(|| {
                c.err(format!(
                    "{what} `{v}` for `{target_name}` is not {}",
                    target.allowed()
                ))
            })
        };
        let source = match (&a.field, &a.value) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(self.err(format!(
                    "`{target_name}` needs exactly one of `field` and `value`"
                )))
            }
            (None, Some(v)) => Source::Const(canon(self, "value", v)?),
            (Some(f), None) => {
                let field = self.field(f)?;
                let table = match &a.table {
                    None => {
                        if !matches!(
                            target,
                            Target::Region
                                | Target::RegionText
                                | Target::Department
                                | Target::ServiceItem
                                | Target::LimitDays
                                | Target::LegalDays
                                | Target::ExtraDays
                                | Target::SignLimitHours
                                | Target::EvaluationLevel
                                | Target::CallerPseudonym
                                | Target::ListingVersion
                                | Target::MaxVisits
                        ) {
                            return Err(self.err(format!(
                                "`{target_name}` from a field needs a code `table`"
                            )));
                        }
                        None
                    }
                    Some(t) => {
                        let rows = self
                            .m
                            .tables
                            .get(t)
                            .ok_or_else(|| self.err(format!("no table named `{t}`")))?;
                        let mut resolved = HashMap::new();
                        for (code, v) in rows {
                            resolved.insert(
                                code.clone(),
                                canon(self, &format!("table `{t}` value"), v)?,
                            );
                        }
                        Some((t.clone(), resolved))
                    }
                };
                let default = match &a.default {
                    Some(d) => Some(canon(self, "default", d)?),
                    None => None,
                };
                let ignore_when = match &a.ignore_when {
                    Some(w) => Some((
                        self.field(&w.field)?,
                        w.equals.clone(),
                        canon(self, "ignore_when value", &w.value)?,
                    )),
                    None => None,
                };
                let fallback = match (&a.fallback, &table) {
                    (None, _) => None,
                    (Some(_), None) => {
                        return Err(self.err(format!("`{target_name}`: `fallback` needs a `table`")))
                    }
                    (Some(f), Some(_)) => Some(canon(self, "fallback", f)?),
                };
                Source::Field {
                    field,
                    table,
                    default,
                    prefix: a.prefix.clone().unwrap_or_default(),
                    ignore_when,
                    fallback,
                }
            }
        };
        if a.fallback.is_some() && a.field.is_none() {
            return Err(self.err(format!("`{target_name}`: `fallback` needs a `field`")));
        }
        Ok(CompiledAssign {
            target,
            target_name: target_name.to_owned(),
            source,
        })
    }
}

impl CompiledSource {
    /// Validates and compiles a mapping. Every mistake in a mapping file is reported here, with
    /// the source name, the key and what is wrong, before any record is read.
    pub fn compile(
        m: &SourceMapping,
        key: Arc<PseudonymKey>,
    ) -> Result<CompiledSource, MappingError> {
        let mut c = Compiler {
            m,
            fields: Vec::new(),
            index: Default::default(),
            csv_columns: Vec::new(),
        };
        if m.name.is_empty()
            || !m
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(c.err("`name` must be non-empty ASCII letters, digits, `_` or `-`"));
        }
        let encoding = encoding_rs::Encoding::for_label(m.encoding.as_bytes())
            .ok_or_else(|| c.err(format!("unknown encoding `{}`", m.encoding)))?;
        let zone = match (&m.utc_offset, &m.time_zone) {
            (Some(_), Some(_)) => {
                return Err(c.err("give `utc_offset` or `time_zone`, not both"));
            }
            (Some(o), None) => govstream_calendar::civil::parse_utc_offset(o)
                .map(Zone::Fixed)
                .ok_or_else(|| c.err(format!("utc_offset `{o}` is not ±hh:mm")))?,
            (None, Some(z)) => Zone::parse(z).ok_or_else(|| {
                c.err(format!(
                    "time_zone `{z}` is not a zone of the IANA database (e.g. `America/New_York`, `Asia/Shanghai`) or ±hh:mm"
                ))
            })?,
            (None, None) => Zone::Fixed(govstream_calendar::civil::BEIJING_OFFSET_S),
        };
        match &m.format {
            FormatSpec::Json => {}
            FormatSpec::Delimited { columns, .. } => {
                if columns.is_empty() {
                    return Err(c.err("a delimited format needs `columns`"));
                }
            }
            FormatSpec::Csv { separator, columns } => {
                if !encoding.is_ascii_compatible() {
                    return Err(c.err(format!(
                        "a csv format needs an encoding where quotes and line breaks are single ASCII bytes (UTF-8, GB18030, GBK, Big5, ...), not `{}`",
                        m.encoding
                    )));
                }
                if matches!(separator, '"' | '\r' | '\n') || !separator.is_ascii() {
                    return Err(c.err(
                        "`format.separator` of a csv format must be an ASCII character other than a quote or a line break",
                    ));
                }
                if let Some(cols) = columns {
                    if let Some((_, d)) = cols
                        .iter()
                        .enumerate()
                        .find(|(i, x)| cols[..*i].contains(x))
                    {
                        return Err(c.err(format!("`format.columns` names `{d}` twice")));
                    }
                }
            }
        }
        if m.record_id.is_empty() {
            return Err(c.err("`record_id` needs at least one field"));
        }
        let mut required = Vec::new();
        for f in &m.required {
            let id = c.field(f)?;
            required.push(id);
        }
        let record_id = m
            .record_id
            .iter()
            .map(|f| c.field(f))
            .collect::<Result<Vec<_>, _>>()?;
        let case_id = c.field(&m.case_id)?;
        let stage_field = match &m.stage_field {
            Some(f) => Some(c.field(f)?),
            None => None,
        };
        for id in record_id
            .iter()
            .copied()
            .chain([case_id])
            .chain(stage_field)
        {
            if !required.contains(&id) {
                required.push(id);
            }
        }
        let version = match (&m.version, stage_field) {
            (None, _) => None,
            (Some(_), Some(_)) => {
                return Err(
                    c.err("`version` is for snapshot rows: remove `stage_field` or `version`")
                )
            }
            (Some(v), None) => {
                let f = c.field(&v.field)?;
                let fmt = match &v.format {
                    Some(x) => Some(c.time_format("version", x)?),
                    None => None,
                };
                Some((f, fmt))
            }
        };
        let mut common = Vec::new();
        for (t, a) in &m.common {
            common.push(c.assign(t, a)?);
        }
        let kind = match m.case_kind {
            CaseKindName::Application => pb::CaseKind::Application,
            CaseKindName::WorkOrder => pb::CaseKind::WorkOrder,
            CaseKindName::Listing => pb::CaseKind::Listing,
        };
        if kind == pb::CaseKind::Listing && stage_field.is_none() {
            return Err(c.err("a `listing` source needs `stage_field`"));
        }
        let mut stages = HashMap::new();
        let mut stage_list = Vec::new();
        for (code, rule) in &m.stages {
            let stage = pb::Stage::from_str_name(&format!("STAGE_{}", rule.stage))
                .filter(|s| *s != pb::Stage::Unspecified)
                .ok_or_else(|| {
                    c.err(format!(
                        "stage `{code}`: `{}` is not a canonical stage",
                        rule.stage
                    ))
                })?;
            let time_field = c.field(&rule.time.field)?;
            let time_format = c.time_format(&format!("stages.{code}.time"), &rule.time.format)?;
            let mut req = Vec::new();
            for f in &rule.required {
                req.push(c.field(f)?);
            }
            if !req.contains(&time_field) {
                req.push(time_field);
            }
            let mut assigns = Vec::new();
            for (t, a) in &rule.set {
                assigns.push(c.assign(t, a)?);
            }
            let when = match &rule.when {
                None => None,
                Some(_) if stage_field.is_some() => {
                    return Err(c.err(format!(
                        "stages.{code}.when is for snapshot rows (without `stage_field`)"
                    )))
                }
                Some(w) => {
                    let f = c.field(&w.field)?;
                    match (&w.is_in, &w.not_in) {
                        (Some(v), None) => Some((f, v.clone(), true)),
                        (None, Some(v)) => Some((f, v.clone(), false)),
                        _ => {
                            return Err(c.err(format!(
                                "stages.{code}.when needs exactly one of `in` and `not_in`"
                            )))
                        }
                    }
                }
            };
            let due = match &rule.due {
                None => None,
                Some(_) if kind != pb::CaseKind::WorkOrder => {
                    return Err(c.err(format!(
                        "stages.{code}.due: an explicit deadline is for work orders"
                    )))
                }
                Some(_) if stage != pb::Stage::Dispatch => {
                    return Err(c.err(format!(
                        "stages.{code}.due: the deadline is carried by a DISPATCH stage, not {}",
                        rule.stage
                    )))
                }
                Some(d) => Some((
                    c.field(&d.field)?,
                    c.time_format(&format!("stages.{code}.due"), &d.format)?,
                )),
            };
            let compiled = CompiledStage {
                key: code.clone(),
                stage,
                time_field,
                time_format,
                required: req,
                assigns,
                when,
                due,
            };
            stage_list.push(compiled.clone());
            stages.insert(code.clone(), compiled);
        }
        if stages.is_empty() {
            return Err(c.err("`stages` is empty"));
        }
        let stage_codes = m.stages.keys().cloned().collect::<Vec<_>>().join(", ");
        let calendar = match m.calendar.as_deref() {
            None | Some("national") => CalendarChoice::National,
            Some("weekdays") => CalendarChoice::Weekdays,
            Some(f) if f.ends_with(".json") => CalendarChoice::File(f.into()),
            Some(other) => {
                return Err(c.err(format!(
                    "calendar `{other}` is not `national`, `weekdays` or the path of a calendar file ending in .json"
                )))
            }
        };
        let format = match &m.format {
            FormatSpec::Json => Format::Json,
            FormatSpec::Delimited { separator, columns } => {
                Format::Delimited(*separator, columns.len())
            }
            FormatSpec::Csv { separator, columns } => {
                let bound = match columns {
                    Some(cols) => Some(
                        project(&c.csv_columns, cols)
                            .map_err(|what| c.err(format!("`format.columns` has {what}")))?,
                    ),
                    None => None,
                };
                Format::Csv {
                    separator: *separator,
                    referenced: c.csv_columns,
                    bound,
                }
            }
        };
        Ok(CompiledSource {
            name: m.name.clone(),
            case_kind: kind,
            encoding,
            format,
            max_bytes: m.max_record_bytes,
            zone,
            fields: c.fields,
            index: c.index,
            record_id,
            case_id,
            stage_field,
            version,
            required,
            common,
            stages,
            stage_list,
            stage_codes,
            key,
            calendar,
        })
    }

    /// The working-day calendar of the source's cases.
    pub fn calendar(&self) -> &CalendarChoice {
        &self.calendar
    }

    /// This source with its calendar file's path resolved against `dir` (the mapping file's).
    pub fn with_calendar_dir(mut self, dir: &std::path::Path) -> CompiledSource {
        if let CalendarChoice::File(p) = &self.calendar {
            if p.is_relative() {
                self.calendar = CalendarChoice::File(dir.join(p));
            }
        }
        self
    }

    /// Records longer than this (bytes) are rejected as `oversize`.
    pub fn max_record_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Whether the records are CSV rows (files of such a source start with a header row,
    /// which [`CompiledSource::bind_header`] reads).
    pub fn is_csv(&self) -> bool {
        matches!(self.format, Format::Csv { .. })
    }

    /// A CSV source's separator (an ASCII byte), for splitting a file into rows.
    pub fn csv_separator(&self) -> Option<u8> {
        match self.format {
            Format::Csv { separator, .. } => u8::try_from(separator).ok(),
            _ => None,
        }
    }

    /// Whether rows can be read without a header: not CSV, or CSV with `format.columns`
    /// declared (what a Kafka source needs: a message is one row).
    pub fn has_columns(&self) -> bool {
        match &self.format {
            Format::Csv { bound, .. } => bound.is_some(),
            _ => true,
        }
    }

    /// This CSV source with its columns found by name in `header` (a file's first record, in
    /// the source's encoding). Extra and reordered columns are fine; a column the mapping uses
    /// that the header lacks is an error naming it.
    pub fn bind_header(&self, header: &[u8]) -> Result<CompiledSource, MappingError> {
        let err = |message: String| MappingError::Invalid {
            source_name: self.name.clone(),
            message,
        };
        let Format::Csv {
            separator,
            referenced,
            ..
        } = &self.format
        else {
            return Ok(self.clone());
        };
        let text = self
            .decode(header)
            .map_err(|r| err(format!("the header row: {}", r.detail)))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let names = crate::csv::split_row(text, *separator)
            .map_err(|e| err(format!("the header row is not valid CSV: {e}")))?;
        let names: Vec<String> = names.iter().map(|n| n.trim().to_owned()).collect();
        let bound = project(referenced, &names).map_err(|what| {
            err(format!(
                "the header row has {what}, which the mapping uses (columns: {})",
                names.join(", ")
            ))
        })?;
        let mut bound_src = self.clone();
        if let Format::Csv { bound: b, .. } = &mut bound_src.format {
            *b = Some(bound);
        }
        Ok(bound_src)
    }

    /// The kind of records the source sends (`Listing`: a catalogue, not cases).
    pub fn case_kind(&self) -> pb::CaseKind {
        self.case_kind
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Normalizes one raw record (a Kafka message value, or a file record without its
    /// terminator) of a source with one event per record. A snapshot row (several events) gives
    /// its first event here; use [`CompiledSource::normalize_into`] for all of them.
    pub fn normalize(&self, bytes: &[u8]) -> Result<pb::CaseEvent, Rejection> {
        self.with_record(bytes, |r| {
            if self.stage_field.is_some() {
                // One event: returned as it is made (no list).
                self.map_one(r)
            } else {
                let mut out = Vec::new();
                self.map(r, &mut out)?;
                out.into_iter()
                    .next()
                    .ok_or_else(|| Rejection::new(Reason::MissingField, "the record gave no event"))
            }
        })
    }

    /// Normalizes one raw record into its events, appended to `out`: one for a source with a
    /// stage field, one per filled stage for snapshot rows. A rejected record appends nothing.
    pub fn normalize_into(
        &self,
        bytes: &[u8],
        out: &mut Vec<pb::CaseEvent>,
    ) -> Result<(), Rejection> {
        self.with_record(bytes, |r| self.map(r, out))
    }

    /// Decodes and splits one raw record, then hands its fields to `f`; the rejections of the
    /// record as a whole (size, encoding, syntax, field count) come from here.
    fn with_record<T>(
        &self,
        bytes: &[u8],
        f: impl FnOnce(&Record) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        if bytes.len() > self.max_bytes {
            return Err(Rejection::new(
                Reason::Oversize,
                format!(
                    "record is {} bytes, more than the limit of {}",
                    bytes.len(),
                    self.max_bytes
                ),
            ));
        }
        let text = self.decode(bytes)?;
        match &self.format {
            Format::Json => {
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                match crate::json::parse_fields(text, &self.index) {
                    Ok(Some(slots)) => f(&Record::Json(&slots)),
                    Ok(None) => Err(Rejection::new(
                        Reason::MalformedJson,
                        "JSON value is not an object",
                    )),
                    Err(e) => Err(Rejection::new(
                        Reason::MalformedJson,
                        format!("not JSON: {} at byte {}", e.what, e.offset),
                    )),
                }
            }
            &Format::Delimited(sep, n) => {
                let line = text.strip_suffix('\r').unwrap_or(&text);
                let cols: Vec<&str> = line.split(sep).collect();
                if cols.len() != n {
                    return Err(Rejection::new(
                        Reason::MissingField,
                        format!(
                            "record has {} fields separated by `{sep}`, the mapping has {n}",
                            cols.len()
                        ),
                    ));
                }
                f(&Record::Columns(&cols))
            }
            Format::Csv {
                separator, bound, ..
            } => {
                let Some((projection, width)) = bound else {
                    return Err(Rejection::new(
                        Reason::MissingField,
                        "the CSV columns are unknown: no header row was read and the mapping declares no `format.columns`",
                    ));
                };
                let row = text.strip_suffix('\n').unwrap_or(&text);
                let row = row.strip_suffix('\r').unwrap_or(row);
                let fields = crate::csv::split_row(row, *separator).map_err(|e| {
                    Rejection::new(Reason::MissingField, format!("row is not valid CSV: {e}"))
                })?;
                if fields.len() != *width {
                    return Err(Rejection::new(
                        Reason::MissingField,
                        format!("row has {} fields, the header has {width}", fields.len()),
                    ));
                }
                let cols: Vec<&str> = projection.iter().map(|&i| fields[i].as_ref()).collect();
                f(&Record::Columns(&cols))
            }
        }
    }

    fn decode<'b>(&self, bytes: &'b [u8]) -> Result<Cow<'b, str>, Rejection> {
        let bad = || {
            Rejection::new(
                Reason::BadEncoding,
                format!("bytes are not valid {}", self.encoding.name()),
            )
        };
        if self.encoding == encoding_rs::UTF_8 {
            return std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
                Rejection::new(
                    Reason::BadEncoding,
                    format!("bytes are not valid UTF-8 (at byte {})", e.valid_up_to()),
                )
            });
        }
        self.encoding
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or_else(bad)
    }

    fn map(&self, r: &Record, out: &mut Vec<pb::CaseEvent>) -> Result<(), Rejection> {
        if self.stage_field.is_some() {
            out.push(self.map_one(r)?);
            return Ok(());
        }
        for &f in &self.required {
            self.require(r, f)?;
        }
        let start = out.len();
        self.map_row(r, out).inspect_err(|_| out.truncate(start))
    }

    /// The one event of a record of a source with a stage field.
    fn map_one(&self, r: &Record) -> Result<pb::CaseEvent, Rejection> {
        for &f in &self.required {
            self.require(r, f)?;
        }
        let Some(stage_field) = self.stage_field else {
            return Err(Rejection::new(
                Reason::MissingField,
                "the record gave no event",
            ));
        };
        let code = self.code_of(r, stage_field).unwrap_or_default();
        let stage = self.stages.get(code.as_ref()).ok_or_else(|| {
            Rejection::new(
                Reason::UnknownCode,
                format!(
                    "`{}` is not a known stage code (known: {})",
                    self.fields[stage_field].name, self.stage_codes
                ),
            )
        })?;
        for &f in &stage.required {
            self.require(r, f)?;
        }
        self.event(r, stage)
    }

    /// A snapshot row: one event per stage whose time field is filled and whose `when` holds,
    /// with the record id `<record id>[@<version>]#<stage key>`.
    fn map_row(&self, r: &Record, out: &mut Vec<pb::CaseEvent>) -> Result<(), Rejection> {
        let version = match &self.version {
            None => 0,
            Some((f, fmt)) => self.version_of(r, *f, fmt.as_ref())?,
        };
        let rid = self.record_id_of(r);
        let before = out.len();
        for stage in &self.stage_list {
            if self.is_blank(r, stage.time_field) {
                continue;
            }
            if let Some((f, codes, allow)) = &stage.when {
                let code = self.code_of(r, *f).unwrap_or_default();
                if codes.iter().any(|c| *c == code.trim()) != *allow {
                    continue;
                }
            }
            for &f in &stage.required {
                self.require(r, f)?;
            }
            let mut ev = self.event(r, stage)?;
            ev.record_id = if version > 0 {
                format!("{rid}@{version}#{}", stage.key)
            } else {
                format!("{rid}#{}", stage.key)
            };
            ev.row_version = version;
            out.push(ev);
        }
        if out.len() == before {
            let times: Vec<String> = self
                .stage_list
                .iter()
                .map(|s| format!("`{}`", self.fields[s.time_field].name))
                .collect();
            return Err(Rejection::new(
                Reason::MissingField,
                format!(
                    "the row has no stage: every time field is blank or excluded by its `when` ({})",
                    times.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The row's version: a whole number ≥ 1, or an instant (microseconds, > 0 in the accepted
    /// range); a blank version is 0, the lowest: any row with a version supersedes it.
    fn version_of(
        &self,
        r: &Record,
        f: FieldId,
        fmt: Option<&TimeFormat>,
    ) -> Result<u64, Rejection> {
        if self.is_blank(r, f) {
            return Ok(0);
        }
        let name = &self.fields[f].name;
        match fmt {
            Some(fmt) => {
                let ts = self.parse_time(r, f, fmt)?;
                Ok(u64::try_from(ts.instant).unwrap_or(0).max(1))
            }
            None => {
                let text = self.code_of(r, f).unwrap_or_default();
                let t = text.trim();
                t.parse::<u64>()
                    .ok()
                    .filter(|v| *v >= 1 && t.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        Rejection::new(
                            Reason::UnknownCode,
                            format!("version `{name}` is not a whole number >= 1"),
                        )
                    })
            }
        }
    }

    fn is_blank(&self, r: &Record, f: FieldId) -> bool {
        match r.get(&self.fields[f]) {
            Raw::Absent | Raw::Null => true,
            Raw::Str(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// A time field read in its format (local patterns in the source's zone), checked
    /// against the accepted range.
    fn parse_time(&self, r: &Record, f: FieldId, fmt: &TimeFormat) -> Result<Timestamp, Rejection> {
        let name = &self.fields[f].name;
        let text = match r.get(&self.fields[f]) {
            Raw::Str(s) => s,
            _ => "",
        };
        let ts = match fmt {
            TimeFormat::Rfc3339 => parse_rfc3339(text),
            TimeFormat::Local(p) => match &self.zone {
                Zone::Fixed(off) => p.parse(text, *off),
                zone => p.parse_local(text).and_then(|l| zone.local_to_instant(l)),
            },
        }
        .ok_or_else(|| {
            let expected = match fmt {
                TimeFormat::Rfc3339 => "RFC 3339 with an offset".to_owned(),
                TimeFormat::Local(p) if p.is_fixed_width() => format!("exactly `{}`", p.as_str()),
                TimeFormat::Local(p) => format!("a time like `{}`", p.as_str()),
            };
            Rejection::new(Reason::BadTimestamp, format!("`{name}` is not {expected}"))
        })?;
        if !(MIN_INSTANT..MAX_INSTANT_EXCLUSIVE).contains(&ts.instant) {
            return Err(Rejection::new(
                Reason::TimeOutOfRange,
                format!(
                    "`{name}` is outside 2000-01-01T00:00+08:00 .. 2100-01-01T00:00+08:00 ({})",
                    Day::of_instant(ts.instant, ts.offset_s).year()
                ),
            ));
        }
        Ok(ts)
    }

    /// The event of one stage of a record whose required fields are checked.
    fn event(&self, r: &Record, stage: &CompiledStage) -> Result<pb::CaseEvent, Rejection> {
        let Timestamp { instant, offset_s } =
            self.parse_time(r, stage.time_field, &stage.time_format)?;
        let mut ev = pb::CaseEvent {
            source: self.name.clone(),
            record_id: self.record_id_of(r),
            case_id: self
                .code_of(r, self.case_id)
                .unwrap_or_default()
                .into_owned(),
            case_kind: self.case_kind as i32,
            stage: stage.stage as i32,
            event_time_us: instant,
            utc_offset_s: offset_s,
            ..Default::default()
        };
        if let Some((f, fmt)) = &stage.due {
            if self.is_blank(r, *f) {
                ev.no_deadline = true;
            } else {
                ev.due_us = Some(self.parse_time(r, *f, fmt)?.instant);
            }
        }
        for a in self.common.iter().chain(&stage.assigns) {
            self.apply(r, a, &mut ev)?;
        }
        Ok(ev)
    }

    fn require(&self, r: &Record, f: FieldId) -> Result<(), Rejection> {
        let def = &self.fields[f];
        let problem = match (r.get(def), def.ftype) {
            (Raw::Absent, _) => "is absent",
            (Raw::Null, _) => "is null",
            (Raw::Str(s), _) if s.trim().is_empty() => "is empty or blank",
            (Raw::Str(_), FieldType::String | FieldType::Code | FieldType::Number) => return Ok(()),
            (Raw::Int(_), FieldType::Integer | FieldType::Code | FieldType::Number) => {
                return Ok(())
            }
            (_, FieldType::String) => "is not a JSON string",
            (_, FieldType::Integer) => "is not a JSON integer",
            (_, FieldType::Code | FieldType::Number) => "is not a string or an integer",
        };
        Err(Rejection::new(
            Reason::MissingField,
            format!("required field `{}` {problem}", def.name),
        ))
    }

    /// A field's value as text: strings as they are, JSON integers as their digits (code
    /// fields only).
    fn code_of<'r>(&self, r: &'r Record, f: FieldId) -> Option<Cow<'r, str>> {
        let def = &self.fields[f];
        match (r.get(def), def.ftype) {
            (Raw::Str(s), FieldType::String | FieldType::Code) => Some(Cow::Borrowed(s)),
            (Raw::Int(n), FieldType::Code | FieldType::Number) => Some(Cow::Owned(n.to_string())),
            (Raw::Str(s), FieldType::Number) => {
                let digits = s.trim_start_matches('0');
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    Some(Cow::Borrowed(s))
                } else if digits.is_empty() {
                    Some(Cow::Borrowed("0"))
                } else if digits.len() == s.len() {
                    Some(Cow::Borrowed(s))
                } else {
                    Some(Cow::Owned(digits.to_owned()))
                }
            }
            _ => None,
        }
    }

    fn record_id_of(&self, r: &Record) -> String {
        let mut id = String::new();
        for (i, &f) in self.record_id.iter().enumerate() {
            if i > 0 {
                id.push('|');
            }
            id.push_str(&self.code_of(r, f).unwrap_or_default());
        }
        id
    }

    fn apply(
        &self,
        r: &Record,
        a: &CompiledAssign,
        ev: &mut pb::CaseEvent,
    ) -> Result<(), Rejection> {
        let value = match &a.source {
            Source::Const(c) => Some(c.clone()),
            Source::Field {
                field,
                table,
                default,
                prefix,
                ignore_when,
                fallback,
            } => {
                if let Some((other, equals, c)) = ignore_when {
                    if self.code_of(r, *other).as_deref() == Some(equals.as_str()) {
                        set(ev, a.target, c.clone());
                        return Ok(());
                    }
                }
                let def = &self.fields[*field];
                let raw = r.get(def);
                let blank = match raw {
                    Raw::Absent | Raw::Null => true,
                    Raw::Str(s) => s.trim().is_empty(),
                    _ => false,
                };
                if a.target == Target::CallerPseudonym {
                    // Personal data: never a reason to reject, never kept.
                    if let Some(p) = self.code_of(r, *field).and_then(|s| self.key.pseudonym(&s)) {
                        ev.caller_pseudonym = p;
                    }
                    return Ok(());
                }
                if blank {
                    default.clone()
                } else {
                    let bad = || {
                        let what = match table {
                            Some((t, _)) => format!("a code of table `{t}`"),
                            None => a.target.allowed().to_owned(),
                        };
                        Rejection::new(
                            Reason::UnknownCode,
                            format!("`{}` is not {what} (for `{}`)", def.name, a.target_name),
                        )
                    };
                    let canon = match (raw, def.ftype, table) {
                        (Raw::Int(n), FieldType::Integer, None) => {
                            if n < 0 {
                                return Err(bad());
                            }
                            a.target.canonical(&n.to_string())
                        }
                        (_, FieldType::Integer, _) => return Err(bad()),
                        _ => {
                            let text = self.code_of(r, *field).ok_or_else(bad)?;
                            match table {
                                Some((_, rows)) => rows
                                    .get(text.as_ref())
                                    .cloned()
                                    .or_else(|| fallback.clone()),
                                None => a.target.canonical(&text),
                            }
                        }
                    };
                    let canon = canon.ok_or_else(bad)?;
                    Some(match canon {
                        Canon::Text(t) if !prefix.is_empty() => Canon::Text(format!("{prefix}{t}")),
                        c => c,
                    })
                }
            }
        };
        if let Some(v) = value {
            set(ev, a.target, v);
        }
        Ok(())
    }
}

fn limit(ev: &mut pb::CaseEvent) -> &mut pb::Limit {
    ev.limit.get_or_insert(pb::Limit {
        value: 0,
        unit: pb::LimitUnit::WorkingDays as i32,
    })
}

fn set(ev: &mut pb::CaseEvent, t: Target, v: Canon) {
    match (t, v) {
        (Target::Region | Target::RegionText, Canon::Text(s)) => ev.region = s,
        (Target::Department, Canon::Text(s)) => ev.department = s,
        (Target::ServiceItem, Canon::Text(s)) => ev.service_item = s,
        (Target::Category, Canon::Enum(e)) => ev.category = e,
        (Target::Channel, Canon::Enum(e)) => ev.channel = e,
        (Target::LimitDays, Canon::UInt(n)) => limit(ev).value = n,
        (Target::LimitUnit, Canon::Enum(e)) => limit(ev).unit = e,
        (Target::LegalDays, Canon::UInt(n)) => ev.legal_days = Some(n),
        (Target::ItemType, Canon::Enum(e)) => ev.item_type = e,
        (Target::SignLimitHours, Canon::UInt(n)) => ev.sign_limit_hours = Some(n),
        (Target::ExtraDays, Canon::UInt(n)) => ev.extra_days = n,
        (Target::StepType, Canon::Enum(e)) => ev.step_type = e,
        (Target::Onsite, Canon::Bool(b)) => ev.onsite = b,
        (Target::Result, Canon::Enum(e)) => ev.result = e,
        (Target::Delivery, Canon::Enum(e)) => ev.delivery = e,
        (Target::EvaluationLevel, Canon::UInt(n)) => ev.evaluation_level = n,
        (Target::Satisfaction, Canon::Enum(e)) => ev.satisfaction = e,
        (Target::ListingVersion, Canon::UInt(n)) => ev.listing_version = n,
        (Target::ListingStatus, Canon::Enum(e)) => ev.listing_status = e,
        (Target::MaxVisits, Canon::UInt(n)) => ev.max_visits = n,
        (Target::OnlineDepth, Canon::UInt(n)) => ev.online_depth = n,
        // Canonical values are parsed per target, so other pairs cannot occur.
        _ => {}
    }
}

/// A raw field value, whatever the record format.
#[derive(Copy, Clone, Debug)]
enum Raw<'a> {
    Absent,
    Null,
    Str(&'a str),
    Int(i128),
    /// A non-integer number, a boolean, an object or an array.
    Other,
}

enum Record<'a> {
    Json(&'a crate::json::Slots<'a>),
    Columns(&'a [&'a str]),
}

impl<'a> Record<'a> {
    fn get(&self, def: &FieldDef) -> Raw<'a> {
        match (self, &def.location) {
            (Record::Json(slots), Location::Slot(i)) => {
                use crate::json::JsonValue;
                match slots.get(*i as usize).and_then(Option::as_ref) {
                    None => Raw::Absent,
                    Some(JsonValue::Null) => Raw::Null,
                    Some(JsonValue::Str(s)) => Raw::Str(s),
                    Some(JsonValue::Int(n)) => Raw::Int(*n),
                    Some(JsonValue::Object | JsonValue::Other) => Raw::Other,
                }
            }
            (Record::Columns(cols), Location::Column(i)) => {
                cols.get(*i).map_or(Raw::Absent, |s| Raw::Str(s))
            }
            _ => Raw::Absent,
        }
    }
}
