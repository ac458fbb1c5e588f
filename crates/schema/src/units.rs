//! Physical units: NGFF names and OME-XML symbols, length and time.

/// Whether a unit measures length or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitKind {
    /// A length (NGFF `space` axes).
    Length,
    /// A duration (NGFF `time` axes).
    Time,
}

/// A physical unit known to both OME-Zarr (NGFF name) and OME-XML (symbol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit {
    ngff: &'static str,
    ome: &'static str,
    kind: UnitKind,
}

impl Unit {
    /// NGFF name (e.g. `micrometer`).
    pub fn ngff_name(self) -> &'static str {
        self.ngff
    }
    /// OME-XML symbol (e.g. `µm`).
    pub fn ome_symbol(self) -> &'static str {
        self.ome
    }
    /// Length or time.
    pub fn kind(self) -> UnitKind {
        self.kind
    }

    /// Look a unit up by NGFF name, OME symbol, or common ASCII spelling (`um`, `us`,
    /// `sec`, `micron`); `None` when unknown.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let alias = match t {
            "um" | "micron" | "microns" => "µm",
            "us" => "µs",
            "A" | "angstroms" => "Å",
            "sec" | "seconds" => "s",
            "min" | "minutes" => "min",
            "hr" | "hours" => "h",
            other => other,
        };
        UNITS
            .iter()
            .find(|u| u.ngff == alias || u.ome == alias || u.ngff == alias.to_lowercase())
            .copied()
    }
}

const fn l(ngff: &'static str, ome: &'static str) -> Unit {
    Unit {
        ngff,
        ome,
        kind: UnitKind::Length,
    }
}
const fn t(ngff: &'static str, ome: &'static str) -> Unit {
    Unit {
        ngff,
        ome,
        kind: UnitKind::Time,
    }
}

/// Every unit the NGFF 0.5 spec lists, with the matching OME-XML 2016-06 symbol.
const UNITS: &[Unit] = &[
    l("angstrom", "Å"),
    l("attometer", "am"),
    l("centimeter", "cm"),
    l("decimeter", "dm"),
    l("exameter", "Em"),
    l("femtometer", "fm"),
    l("foot", "ft"),
    l("gigameter", "Gm"),
    l("hectometer", "hm"),
    l("inch", "in"),
    l("kilometer", "km"),
    l("megameter", "Mm"),
    l("meter", "m"),
    l("micrometer", "µm"),
    l("mile", "mi"),
    l("millimeter", "mm"),
    l("nanometer", "nm"),
    l("parsec", "pc"),
    l("petameter", "Pm"),
    l("picometer", "pm"),
    l("terameter", "Tm"),
    l("yard", "yd"),
    l("yoctometer", "ym"),
    l("yottameter", "Ym"),
    l("zeptometer", "zm"),
    l("zettameter", "Zm"),
    t("attosecond", "as"),
    t("centisecond", "cs"),
    t("day", "d"),
    t("decisecond", "ds"),
    t("exasecond", "Es"),
    t("femtosecond", "fs"),
    t("gigasecond", "Gs"),
    t("hectosecond", "hs"),
    t("hour", "h"),
    t("kilosecond", "ks"),
    t("megasecond", "Ms"),
    t("microsecond", "µs"),
    t("millisecond", "ms"),
    t("minute", "min"),
    t("nanosecond", "ns"),
    t("petasecond", "Ps"),
    t("picosecond", "ps"),
    t("second", "s"),
    t("terasecond", "Ts"),
    t("yoctosecond", "ys"),
    t("yottasecond", "Ys"),
    t("zeptosecond", "zs"),
    t("zettasecond", "Zs"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, ngff: Option<&str>) {
        assert_eq!(Unit::parse(input).map(Unit::ngff_name), ngff, "{input}");
    }

    #[test]
    fn parses_names_symbols_and_aliases() {
        check("micrometer", Some("micrometer"));
        check("um", Some("micrometer"));
        check("µm", Some("micrometer"));
        check("ms", Some("millisecond"));
        check("s", Some("second"));
        check("Second", Some("second"));
        check("nm", Some("nanometer"));
        check("min", Some("minute"));
        check("furlong", None);
        check("", None);
    }
}
