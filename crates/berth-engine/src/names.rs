//! Container names and ids: validation of user names, Docker-style random names
//! (`adjective_surname`), and random 64-hex ids.
//!
//! The word lists are Berth's own. As in Docker, one particular pair never comes out:
//! `boring_wozniak` (both words are in the lists).

use crate::error::{EngineError, Result};

const ADJECTIVES: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "calm",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "albattani",
    "allen",
    "almeida",
    "archimedes",
    "ardinghelli",
    "aryabhata",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bassi",
    "bell",
    "bhabha",
    "bhaskara",
    "blackwell",
    "bohr",
    "booth",
    "borg",
    "bose",
    "boyd",
    "brahmagupta",
    "brattain",
    "brown",
    "burnell",
    "cannon",
    "carson",
    "cartwright",
    "cerf",
    "chandrasekhar",
    "chatelet",
    "chaum",
    "clarke",
    "colden",
    "cori",
    "cray",
    "curie",
    "darwin",
    "davinci",
    "dijkstra",
    "dirac",
    "driscoll",
    "dubinsky",
    "easley",
    "einstein",
    "elion",
    "ellis",
    "engelbart",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "germain",
    "goldberg",
    "goodall",
    "hamilton",
    "haslett",
    "hawking",
    "heisenberg",
    "hellman",
    "hermann",
    "hertz",
    "hodgkin",
    "hoover",
    "hopper",
    "hypatia",
    "jackson",
    "jang",
    "jennings",
    "johnson",
    "kalam",
    "kepler",
    "khorana",
    "knuth",
    "kowalevski",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lederberg",
    "lehmann",
    "lewin",
    "liskov",
    "lovelace",
    "lumiere",
    "mahavira",
    "margulis",
    "matsumoto",
    "maxwell",
    "mayer",
    "mccarthy",
    "mcclintock",
    "meitner",
    "mendel",
    "merkle",
    "mirzakhani",
    "morse",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nobel",
    "noether",
    "northcutt",
    "noyce",
    "pascal",
    "pasteur",
    "payne",
    "perlman",
    "pike",
    "poincare",
    "ptolemy",
    "raman",
    "ramanujan",
    "ride",
    "ritchie",
    "rosalind",
    "sammet",
    "shannon",
    "shockley",
    "sinoussi",
    "stallman",
    "swartz",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "visvesvaraya",
    "volhard",
    "wescoff",
    "wiles",
    "williams",
    "wilson",
    "wing",
    "wozniak",
    "wright",
    "wu",
    "yalow",
    "yonath",
    "zhukovsky",
];

/// Random bytes from the OS. Cannot fail on Linux unless the kernel refuses getrandom(2),
/// which we report as an internal error.
fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| EngineError::internal(format!("getrandom: {e}")))
}

fn random_index(n: usize) -> Result<usize> {
    let mut b = [0u8; 8];
    random_bytes(&mut b)?;
    Ok((u64::from_le_bytes(b) % n as u64) as usize)
}

/// A new 64-hex id. Like Docker, an id that is all digits is rejected (it could be
/// confused with a number in short form) and redrawn.
pub fn new_id() -> Result<String> {
    loop {
        let mut b = [0u8; 32];
        random_bytes(&mut b)?;
        let id = hex::encode(b);
        if !id[..12].bytes().all(|c| c.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// `adjective_surname`, or with `retry > 0` a digit appended (`adjective_surname3`), as
/// Docker does after a collision.
pub fn random_name(retry: u32) -> Result<String> {
    loop {
        let a = ADJECTIVES[random_index(ADJECTIVES.len())?];
        let s = SURNAMES[random_index(SURNAMES.len())?];
        let name = format!("{a}_{s}");
        // Steve Wozniak is not boring.
        if name == "boring_wozniak" {
            continue;
        }
        if retry > 0 {
            return Ok(format!("{name}{}", random_index(10)?));
        }
        return Ok(name);
    }
}

/// Checks a user-given name against Docker's `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$` and returns
/// it in stored form (`/name`).
pub fn validate_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = !rest.is_empty()
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(EngineError::invalid(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(format!("/{bare}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn random_names_have_docker_shape() {
        for _ in 0..2000 {
            let n = random_name(0).unwrap();
            assert_ne!(n, "boring_wozniak");
            let (a, s) = n.split_once('_').unwrap();
            assert!(ADJECTIVES.contains(&a), "{n}");
            assert!(SURNAMES.contains(&s), "{n}");
            validate_name(&n).unwrap();
        }
        let n = random_name(1).unwrap();
        assert!(n.ends_with(|c: char| c.is_ascii_digit()), "{n}");
        assert!(ADJECTIVES.len() >= 100 && SURNAMES.len() >= 100);
    }

    #[test]
    fn name_validation_follows_docker() {
        assert_eq!(validate_name("web").unwrap(), "/web");
        assert_eq!(validate_name("/web-1.a_b").unwrap(), "/web-1.a_b");
        for bad in ["", "a", "/a", "-web", "_x", "we b", "web/1", "ünï"] {
            let e = validate_name(bad).unwrap_err();
            assert_eq!(e.kind, crate::error::ErrorKind::InvalidArgument);
            assert_eq!(
                e.message,
                format!(
                    "Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )
            );
        }
    }
}
