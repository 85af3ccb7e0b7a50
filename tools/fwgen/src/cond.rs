//! Version conditions: `when = "V >= V13_0B4 && G != G14X"`.
//!
//! The firmware ABI changes along two ordered axes, the GPU generation (`G`)
//! and the firmware version (`V`). A condition compares an axis with one of
//! its values and combines comparisons with `&&`, `||`, `!` and parentheses,
//! which is enough to say when a field, enum value or struct exists.

use nom::{
    branch::alt,
    bytes::complete::tag,
    character::complete::{alpha1, alphanumeric1, char, multispace0},
    combinator::{all_consuming, map, recognize},
    multi::{many0, separated_list1},
    sequence::{delimited, pair, preceded, tuple},
    IResult,
};

use crate::error::{Error, Result};

/// Comparison operator between an axis and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Always true (no `when`).
    True,
    /// `axis op value`.
    Cmp {
        /// Axis name, e.g. `G` or `V`.
        axis: String,
        /// The operator.
        op: CmpOp,
        /// Axis value name, e.g. `V13_0B4`.
        value: String,
    },
    /// `a && b && ...`
    And(Vec<Cond>),
    /// `a || b || ...`
    Or(Vec<Cond>),
    /// `!a`
    Not(Box<Cond>),
}

/// Looks up the rank of an axis value; implemented by [`crate::defs::Axes`].
pub trait AxisOrder {
    /// Position of `value` on `axis`, or `None` if either is unknown.
    fn rank(&self, axis: &str, value: &str) -> Option<usize>;
}

impl Cond {
    /// Parses a condition; an empty string is [`Cond::True`].
    pub fn parse(text: &str, context: &str) -> Result<Cond> {
        if text.trim().is_empty() {
            return Ok(Cond::True);
        }
        match all_consuming(delimited(multispace0, or_expr, multispace0))(text) {
            Ok((_, c)) => Ok(c),
            Err(e) => Err(Error::Parse {
                context: context.to_string(),
                text: text.to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// Checks that every axis and value named in the condition exists.
    pub fn validate(&self, order: &dyn AxisOrder, context: &str) -> Result<()> {
        match self {
            Cond::True => Ok(()),
            Cond::Cmp { axis, value, .. } => {
                if order.rank(axis, value).is_some() {
                    Ok(())
                } else {
                    Err(Error::Invalid(format!(
                        "{context}: unknown axis value `{axis}` / `{value}` in condition"
                    )))
                }
            }
            Cond::And(v) | Cond::Or(v) => v.iter().try_for_each(|c| c.validate(order, context)),
            Cond::Not(c) => c.validate(order, context),
        }
    }

    /// Evaluates the condition for a variant given as `(axis, value)` pairs.
    /// Unknown names evaluate to false; call [`Cond::validate`] first.
    pub fn eval(&self, order: &dyn AxisOrder, point: &[(String, String)]) -> bool {
        match self {
            Cond::True => true,
            Cond::Cmp { axis, op, value } => {
                let Some((_, cur)) = point.iter().find(|(a, _)| a == axis) else {
                    return false;
                };
                let (Some(l), Some(r)) = (order.rank(axis, cur), order.rank(axis, value)) else {
                    return false;
                };
                match op {
                    CmpOp::Eq => l == r,
                    CmpOp::Ne => l != r,
                    CmpOp::Lt => l < r,
                    CmpOp::Le => l <= r,
                    CmpOp::Gt => l > r,
                    CmpOp::Ge => l >= r,
                }
            }
            Cond::And(v) => v.iter().all(|c| c.eval(order, point)),
            Cond::Or(v) => v.iter().any(|c| c.eval(order, point)),
            Cond::Not(c) => !c.eval(order, point),
        }
    }
}

fn ws<'a, O>(
    p: impl FnMut(&'a str) -> IResult<&'a str, O>,
) -> impl FnMut(&'a str) -> IResult<&'a str, O> {
    delimited(multispace0, p, multispace0)
}

fn ident(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        alt((alpha1, tag("_"))),
        many0(alt((alphanumeric1, tag("_")))),
    ))(i)
}

fn op(i: &str) -> IResult<&str, CmpOp> {
    alt((
        map(tag("=="), |_| CmpOp::Eq),
        map(tag("!="), |_| CmpOp::Ne),
        map(tag("<="), |_| CmpOp::Le),
        map(tag(">="), |_| CmpOp::Ge),
        map(tag("<"), |_| CmpOp::Lt),
        map(tag(">"), |_| CmpOp::Gt),
    ))(i)
}

fn cmp(i: &str) -> IResult<&str, Cond> {
    map(tuple((ws(ident), op, ws(ident))), |(a, o, v)| Cond::Cmp {
        axis: a.to_string(),
        op: o,
        value: v.to_string(),
    })(i)
}

fn atom(i: &str) -> IResult<&str, Cond> {
    alt((
        delimited(ws(char('(')), or_expr, ws(char(')'))),
        map(preceded(ws(char('!')), atom), |c| Cond::Not(Box::new(c))),
        cmp,
    ))(i)
}

fn and_expr(i: &str) -> IResult<&str, Cond> {
    map(separated_list1(ws(tag("&&")), atom), |mut v| {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::And(v)
        }
    })(i)
}

fn or_expr(i: &str) -> IResult<&str, Cond> {
    map(separated_list1(ws(tag("||")), and_expr), |mut v| {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Cond::Or(v)
        }
    })(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Order;
    impl AxisOrder for Order {
        fn rank(&self, axis: &str, value: &str) -> Option<usize> {
            let vals: &[&str] = match axis {
                "G" => &["G13", "G14", "G14X"],
                "V" => &["V12_3", "V12_4", "V13_0B4", "V13_5"],
                _ => return None,
            };
            vals.iter().position(|v| *v == value)
        }
    }

    fn at(g: &str, v: &str) -> Vec<(String, String)> {
        vec![("G".into(), g.into()), ("V".into(), v.into())]
    }

    #[test]
    fn parses_and_evaluates() {
        let c = Cond::parse("V >= V13_0B4 && !(G == G14X)", "t").unwrap();
        assert!(c.eval(&Order, &at("G13", "V13_5")));
        assert!(!c.eval(&Order, &at("G14X", "V13_5")));
        assert!(!c.eval(&Order, &at("G13", "V12_3")));
        let c = Cond::parse("G<G14 || V==V12_4", "t").unwrap();
        assert!(c.eval(&Order, &at("G14", "V12_4")));
        assert!(!c.eval(&Order, &at("G14", "V13_5")));
    }

    #[test]
    fn empty_is_true_and_garbage_fails() {
        assert_eq!(Cond::parse("  ", "t").unwrap(), Cond::True);
        let e = Cond::parse("V >=", "ctx").unwrap_err().to_string();
        assert!(e.contains("ctx"), "{e}");
    }

    #[test]
    fn validate_rejects_unknown_values() {
        let c = Cond::parse("V >= V99", "f").unwrap();
        assert!(c.validate(&Order, "f").is_err());
    }
}
