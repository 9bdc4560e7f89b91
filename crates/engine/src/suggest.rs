//! "Did you mean …?": the one suggester for a misspelt name, whether it is a registry key
//! (`government.income_tax`), a spec's key (`seed`) or an indicator. One measure
//! (Jaro–Winkler, from `strsim`) and one threshold, so every message suggests alike.

/// How alike two names must be (Jaro–Winkler, 0 to 1) for one to be offered as the other.
const THRESHOLD: f64 = 0.85;

/// The option closest to `word`, if it is plausibly a typo of it.
pub fn closest<'a>(word: &str, options: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    options
        .into_iter()
        .map(|o| (strsim::jaro_winkler(word, o), o))
        .filter(|(score, _)| *score > THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| o)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn a_typo_finds_its_word_and_nonsense_finds_none() {
        assert_eq!(closest("seed", ["ticks", "seeds", "warmup"]), Some("seeds"));
        assert_eq!(
            closest("government.income_tax", ["government.income_tax_rate", "bank.policy_rate"]),
            Some("government.income_tax_rate")
        );
        assert_eq!(closest("zzz", ["ticks", "seeds"]), None);
    }
}
