//! Per-case facts, folded from canonical events (metrics.md "Case facts").
//!
//! Every fact is a commutative merge — earliest or latest instant with ties to the smaller
//! record id, sums, sets — so the facts of a case depend only on the set of its records, never
//! on their arrival order.

use crate::intern::Sym;

/// The winning record of a stage recorded more than once, with the attributes it supplies.
#[derive(Clone, Debug, PartialEq)]
pub struct Pick<A> {
    pub at: i64,
    pub rid: Box<str>,
    pub a: A,
}

/// Keeps the earliest (instant, record id).
pub fn take_earliest<A>(slot: &mut Option<Pick<A>>, at: i64, rid: &str, a: A) {
    let better = match slot {
        None => true,
        Some(p) => at < p.at || (at == p.at && rid < &*p.rid),
    };
    if better {
        *slot = Some(Pick {
            at,
            rid: rid.into(),
            a,
        });
    }
}

/// Keeps the latest instant; equal instants go to the smaller record id.
pub fn take_latest<A>(slot: &mut Option<Pick<A>>, at: i64, rid: &str, a: A) {
    let better = match slot {
        None => true,
        Some(p) => at > p.at || (at == p.at && rid < &*p.rid),
    };
    if better {
        *slot = Some(Pick {
            at,
            rid: rid.into(),
            a,
        });
    }
}

pub fn min_opt(slot: &mut Option<i64>, at: i64) {
    *slot = Some(slot.map_or(at, |x| x.min(at)));
}

pub fn max_opt(slot: &mut Option<i64>, at: i64) {
    *slot = Some(slot.map_or(at, |x| x.max(at)));
}

pub use crate::schema::Dims;

#[derive(Clone, Debug, PartialEq)]
pub struct SubmitA {
    pub dims: Dims,
    /// The submission was made in person (window or kiosk).
    pub visit: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AcceptA {
    pub dims: Dims,
    pub limit: u32,
    pub natural_days: bool,
}

/// Facts of an application. What most open cases have is inline; the rest is boxed, so that an
/// open case stays small (see the `state_size` bench).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Application {
    pub submit: Option<Pick<SubmitA>>,
    pub accept: Option<Pick<AcceptA>>,
    /// Latest approval or refusal; the attribute is "collected at a window".
    pub complete: Option<Pick<bool>>,
    pub more: Option<Box<ApplicationMore>>,
}

/// The less common facts of an application.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplicationMore {
    /// Latest withdrawal.
    pub withdrawn: Option<i64>,
    /// Dimensions given by records of other stages (bdc records all carry them): the earliest.
    pub other: Option<Pick<Dims>>,
    /// SUSPEND (true) and RESUME (false) steps.
    pub steps: Vec<(i64, bool)>,
    /// Process steps that needed the applicant in person.
    pub onsite_steps: u32,
    /// The result was collected at a window (bdc 06): one visit however often recorded.
    pub collected: bool,
    /// Evaluations: (instant, bad review).
    pub reviews: Vec<(i64, bool)>,
}

static NO_APPLICATION_MORE: ApplicationMore = ApplicationMore {
    withdrawn: None,
    other: None,
    steps: Vec::new(),
    onsite_steps: 0,
    collected: false,
    reviews: Vec::new(),
};

impl Application {
    pub fn more(&self) -> &ApplicationMore {
        self.more.as_deref().unwrap_or(&NO_APPLICATION_MORE)
    }

    pub fn more_mut(&mut self) -> &mut ApplicationMore {
        self.more.get_or_insert_with(Default::default)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegisterA {
    pub region: Sym,
    pub category: Sym,
    pub channel: Sym,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DispatchA {
    pub limit: u32,
    pub sign_limit_hours: u32,
    /// An explicit deadline instant (an export's due-date column): replaces `limit`.
    /// [`NO_DEADLINE`]: the export's due date is blank.
    pub due: Option<i64>,
}

/// `DispatchA::due` of an order whose export gives no due date: it has no deadline.
pub const NO_DEADLINE: i64 = i64::MAX;

/// Per-event hotline counters that are not case facts.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OrderEvent {
    Return,
    Urge,
    CallbackSatisfied,
    CallbackDissatisfied,
    CallbackUnreachable,
    CallbackOther,
    Reopen,
}

/// Facts of a hotline work order (common facts inline, the rest boxed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkOrder {
    pub register: Option<Pick<RegisterA>>,
    pub first_dispatch: Option<Pick<DispatchA>>,
    /// Latest DISPATCH; supplies the department.
    pub last_dispatch: Option<Pick<Sym>>,
    /// Latest CLOSE or ANSWER.
    pub last_close: Option<i64>,
    pub more: Option<Box<WorkOrderMore>>,
}

/// The less common facts of a work order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkOrderMore {
    /// Earliest ANSWER.
    pub answer: Option<i64>,
    pub signs: Vec<i64>,
    pub last_reopen: Option<i64>,
    pub extra_days: u32,
    pub events: Vec<(i64, OrderEvent)>,
}

static NO_WORK_ORDER_MORE: WorkOrderMore = WorkOrderMore {
    answer: None,
    signs: Vec::new(),
    last_reopen: None,
    extra_days: 0,
    events: Vec::new(),
};

impl WorkOrder {
    pub fn more(&self) -> &WorkOrderMore {
        self.more.as_deref().unwrap_or(&NO_WORK_ORDER_MORE)
    }

    pub fn more_mut(&mut self) -> &mut WorkOrderMore {
        self.more.get_or_insert_with(Default::default)
    }

    /// The closure instant: the last CLOSE or ANSWER unless a strictly later REOPEN follows.
    pub fn closed_at(&self) -> Option<i64> {
        let c = self.last_close?;
        match self.more().last_reopen {
            Some(r) if r > c => None,
            _ => Some(c),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Facts {
    Application(Application),
    WorkOrder(WorkOrder),
}

/// One case: its facts and the records already applied (dedupe).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub facts: Facts,
    /// Every applied record: record-id hash (high 48 bits) and content fingerprint (low 16).
    pub seen: Vec<u64>,
    /// The latest instant of its applied records (retention, rule 17).
    pub latest: i64,
    /// Its source (retention compares `latest` with this source's watermark).
    pub source: Sym,
    /// The row version its facts are folded from (snapshot rows of an export; 0: unversioned).
    /// An event of a higher version replaces the facts, one of a lower version is superseded.
    pub version: u64,
}

impl Case {
    /// An application with a completion or a withdrawal, a work order that is closed: what
    /// retention may retire (rule 17).
    pub fn finished(&self) -> bool {
        match &self.facts {
            Facts::Application(a) => a.complete.is_some() || a.more().withdrawn.is_some(),
            Facts::WorkOrder(o) => o.closed_at().is_some(),
        }
    }
}

/// Packs a record-id hash and a content fingerprint into one `seen` entry.
pub fn seen_entry(rid_hash: u64, fingerprint: u64) -> u64 {
    (rid_hash & !0xffff) | (fingerprint & 0xffff)
}
