//! Dot-separated property paths (`content.m\.relates_to.rel_type`).

use std::borrow::Cow;

use serde_json::Value;

/// The value at `path` in `event`, following object properties only.
pub(super) fn lookup<'v>(event: &'v Value, path: &str) -> Option<&'v Value> {
    let mut value = event;
    let mut rest = Some(path);
    while let Some(remaining) = rest {
        let (name, after) = split_first(remaining);
        value = value.as_object()?.get(name.as_ref())?;
        rest = after;
    }
    Some(value)
}

/// The first property name of `path`, unescaped, and what follows the dot
/// ending it, if one does. `\.` and `\\` stand for `.` and `\`; any other
/// backslash is itself. Borrows unless there was something to unescape,
/// which keeps the common paths (`type`, `content.body`) free of
/// allocations.
fn split_first(path: &str) -> (Cow<'_, str>, Option<&str>) {
    let mut unescaped: Option<String> = None;
    let mut chars = path.char_indices().peekable();
    while let Some((index, c)) = chars.next() {
        match c {
            '.' => return (finish(path, index, unescaped), Some(&path[index + 1..])),
            '\\' => {
                if let Some(&(_, escaped @ ('.' | '\\'))) = chars.peek() {
                    chars.next();
                    unescaped
                        .get_or_insert_with(|| path[..index].to_owned())
                        .push(escaped);
                } else if let Some(name) = &mut unescaped {
                    name.push('\\');
                }
            }
            c => {
                if let Some(name) = &mut unescaped {
                    name.push(c);
                }
            }
        }
    }
    (finish(path, path.len(), unescaped), None)
}

/// The property name ending at `end`: the unescaped copy if one was made,
/// else the path's text up to there, which then had no escapes.
fn finish(path: &str, end: usize, unescaped: Option<String>) -> Cow<'_, str> {
    unescaped.map_or(Cow::Borrowed(&path[..end]), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map};

    use super::*;

    fn names(path: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = Some(path);
        while let Some(remaining) = rest {
            let (name, after) = split_first(remaining);
            names.push(name.into_owned());
            rest = after;
        }
        names
    }

    #[test]
    fn splits_on_unescaped_dots() {
        assert_eq!(names("content.body"), ["content", "body"]);
        assert_eq!(names("type"), ["type"]);
        assert_eq!(
            names(r"content.m\.relates_to.rel_type"),
            ["content", "m.relates_to", "rel_type"]
        );
        assert_eq!(names(r"content.m\\foo"), ["content", r"m\foo"]);
        // A backslash before anything else, or at the end, is literal.
        assert_eq!(names(r"a\x.b\"), [r"a\x", r"b\"]);
        // `\\.` is a backslash ending the name, then a separator.
        assert_eq!(names(r"a\\.b"), [r"a\", "b"]);
        assert_eq!(names("a..b."), ["a", "", "b", ""]);
    }

    #[test]
    fn follows_objects_only() {
        let event = json!({ "content": { "m.federate": true, "list": [1], "a": { "b": "c" } } });
        assert_eq!(lookup(&event, r"content.m\.federate"), Some(&json!(true)));
        assert_eq!(lookup(&event, "content.m.federate"), None);
        assert_eq!(lookup(&event, "content.a.b"), Some(&json!("c")));
        assert_eq!(lookup(&event, "content.list.0"), None);
        assert_eq!(lookup(&event, "content.a.b.c"), None);
    }

    /// Escapes a property name the way the specification recommends.
    fn escape(name: &str) -> String {
        name.replace('\\', r"\\").replace('.', r"\.")
    }

    proptest! {
        #[test]
        fn escaped_names_are_found(names in prop::collection::vec(r"[a.\\x]{0,4}", 1..4)) {
            let leaf = json!("found");
            let event = names.iter().rev().fold(leaf.clone(), |inner, name| {
                Value::Object(Map::from_iter([(name.clone(), inner)]))
            });
            let path = names.iter().map(|name| escape(name)).collect::<Vec<_>>().join(".");
            prop_assert_eq!(lookup(&event, &path), Some(&leaf));
        }
    }
}
