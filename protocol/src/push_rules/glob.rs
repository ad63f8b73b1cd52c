//! Case-insensitive glob matching (`*` any run of characters, `?` any one
//! character), against a whole value or against a run of words in it.
//!
//! Matching simulates the pattern as a nondeterministic automaton, one
//! character of the value at a time, so it takes time proportional to the
//! value's length times the pattern's, whatever the input: bodies and
//! patterns both come from other users.
//!
//! Case is folded character by character, with the full Unicode lowercase
//! mapping where it is a single character (`Ä` is `ä`, the Kelvin sign is
//! `k`) and no folding where it is not (`İ`), so that a `?` always stands
//! for one character of the value as written.

/// What part of the value a pattern must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Extent {
    /// All of it.
    WholeValue,
    /// Any substring that starts and ends at a word boundary: the start or
    /// end of the value, or next to a character other than ASCII letters,
    /// digits and `_`. So `ex*ple` finds `exciting triple` in `An exciting
    /// triple-whammy`, but `ample` does not match `example`.
    Words,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// This character, case-folded.
    Char(char),
    /// `?`
    AnyChar,
    /// `*`
    AnyRun,
}

/// A compiled pattern.
#[derive(Debug)]
pub(super) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// A glob in which `*` and `?` are wildcards. There is no escape: they
    /// always are.
    pub(super) fn new(pattern: &str) -> Self {
        let tokens = pattern
            .chars()
            .map(|c| match c {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                c => Token::Char(fold(c)),
            })
            .collect();
        Self { tokens }
    }

    /// A pattern matching `text` itself, wildcard characters included.
    pub(super) fn literal(text: &str) -> Self {
        Self {
            tokens: text.chars().map(|c| Token::Char(fold(c))).collect(),
        }
    }

    pub(super) fn matches(&self, value: &str, extent: Extent) -> bool {
        // `active[i]`: the value read so far, from some allowed start, can
        // be matched by the first `i` tokens.
        let mut active = vec![false; self.tokens.len() + 1];
        let mut next = active.clone();
        let mut chars = value.chars().peekable();
        let mut previous = None;
        loop {
            let current = chars.peek().copied();
            let (may_start, may_end) = match extent {
                Extent::WholeValue => (previous.is_none(), current.is_none()),
                Extent::Words => {
                    let boundary = match (previous, current) {
                        (Some(before), Some(after)) => !is_word(before) || !is_word(after),
                        _ => true,
                    };
                    (boundary, boundary)
                }
            };
            if may_start {
                active[0] = true;
            }
            self.skip_empty_runs(&mut active);
            if may_end && active[self.tokens.len()] {
                return true;
            }
            let Some(c) = chars.next() else {
                return false;
            };
            let folded = fold(c);
            next.fill(false);
            for (i, token) in self.tokens.iter().enumerate() {
                if !active[i] {
                    continue;
                }
                match token {
                    Token::AnyRun => next[i] = true,
                    Token::AnyChar => next[i + 1] = true,
                    Token::Char(expected) if *expected == folded => next[i + 1] = true,
                    Token::Char(_) => {}
                }
            }
            std::mem::swap(&mut active, &mut next);
            // A whole-value match cannot start again later.
            if extent == Extent::WholeValue && !active.contains(&true) {
                return false;
            }
            previous = Some(c);
        }
    }

    /// Lets every `*` reached also match nothing. In one forward pass, so
    /// that a run of `*`s is crossed at once.
    fn skip_empty_runs(&self, active: &mut [bool]) {
        for (i, token) in self.tokens.iter().enumerate() {
            if active[i] && *token == Token::AnyRun {
                active[i + 1] = true;
            }
        }
    }
}

/// Characters that do not make a word boundary.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(single), None) => single,
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The definition, directly: some substring between allowed start and
    /// end positions matches, by naive backtracking. Exponential; only for
    /// short inputs.
    fn reference(pattern: &str, value: &str, extent: Extent) -> bool {
        fn whole(pattern: &[char], value: &[char]) -> bool {
            match pattern.split_first() {
                None => value.is_empty(),
                Some(('*', rest)) => (0..=value.len()).any(|skip| whole(rest, &value[skip..])),
                Some((&p, rest)) => value.split_first().is_some_and(|(&v, value_rest)| {
                    (p == '?' || fold(p) == fold(v)) && whole(rest, value_rest)
                }),
            }
        }
        let pattern: Vec<char> = pattern.chars().collect();
        let value: Vec<char> = value.chars().collect();
        let boundary =
            |i: usize| i == 0 || i == value.len() || !is_word(value[i - 1]) || !is_word(value[i]);
        match extent {
            Extent::WholeValue => whole(&pattern, &value),
            Extent::Words => (0..=value.len()).any(|start| {
                (start..=value.len()).any(|end| {
                    boundary(start) && boundary(end) && whole(&pattern, &value[start..end])
                })
            }),
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_definition(
            pattern in "[aB*? -]{0,6}",
            value in "[AbB _-]{0,10}",
            words in any::<bool>(),
        ) {
            let extent = if words { Extent::Words } else { Extent::WholeValue };
            prop_assert_eq!(
                Glob::new(&pattern).matches(&value, extent),
                reference(&pattern, &value, extent)
            );
        }
    }
}
