//! Markdown helpers shared by the generated pages.

/// Text made safe for one Markdown table cell: one line, pipes escaped.
pub fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cell_is_one_line_without_bare_pipes() {
        assert_eq!(super::cell("a |b\n  c"), "a \\|b c");
    }
}
