//! A small parser for the Prometheus text exposition format (version 0.0.4), as nodex, the
//! node_exporter and the kubelet's `/metrics/cadvisor` write it: `# HELP`/`# TYPE` comments,
//! then `name{label="value",...} value [timestamp]` lines. Only what `nodex top` needs: the
//! samples, with label values unescaped (`\\`, `\"`, `\n`), see
//! <https://github.com/prometheus/docs/blob/main/docs/instrumenting/exposition_formats.md>.

/// One sample: family name, labels in line order, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Label pairs, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN`, `+Inf`, `-Inf` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, or "" when absent (Prometheus treats both the same).
    pub fn label(&self, key: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A line that is neither a comment nor a well-formed sample.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub why: &'static str,
}

/// Parses a whole exposition body.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|why| ParseError { line: i + 1, why })?);
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<Sample, &'static str> {
    let name_end = line.find(['{', ' ', '\t']).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() {
        return Err("empty metric name");
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value = parse_value(value).ok_or("bad value")?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `k="v",...}` and returns the labels and what follows the closing brace.
/// Label pairs in line order.
type Labels = Vec<(String, String)>;

fn parse_labels(mut s: &str) -> Result<(Labels, &str), &'static str> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(after) = s.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let key = s[..eq].trim();
        s = s[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value"),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value"),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((key.to_string(), value));
        s = &s[end + 1..];
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kubelet_cadvisor_form() {
        // Lines as the kubelet's /metrics/cadvisor writes them (label order, timestamps).
        let text = "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n\
# TYPE container_cpu_usage_seconds_total counter\n\
container_cpu_usage_seconds_total{container=\"app\",cpu=\"total\",id=\"/kubepods/pod1/abc\",image=\"x:1\",name=\"abc\",namespace=\"shop\",pod=\"web-0\"} 12.5 1700000000000\n\
machine_cpu_cores 4\n";
        let s = parse(text).expect("parses");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "container_cpu_usage_seconds_total");
        assert_eq!(s[0].label("pod"), "web-0");
        assert_eq!(s[0].label("cpu"), "total");
        assert_eq!(s[0].label("missing"), "");
        assert_eq!(s[0].value, 12.5);
        assert_eq!(s[1].name, "machine_cpu_cores");
        assert!(s[1].labels.is_empty());
        assert_eq!(s[1].value, 4.0);
    }

    #[test]
    fn unescapes_label_values_and_special_floats() {
        let s =
            parse("m{a=\"q\\\"uo\\\\te\\n\",b=\"}{,\"} +Inf\nn{} NaN\nk -1.5e3\n").expect("parses");
        assert_eq!(s[0].label("a"), "q\"uo\\te\n");
        assert_eq!(s[0].label("b"), "}{,");
        assert!(s[0].value.is_infinite());
        assert!(s[1].value.is_nan());
        assert_eq!(s[2].value, -1500.0);
    }

    #[test]
    fn rejects_malformed_lines_with_their_number() {
        assert_eq!(parse("ok 1\nbad{a=\"x} 1\n").unwrap_err().line, 2);
        assert!(parse("m{a=x} 1").is_err());
        assert!(parse("m 1x").is_err());
        assert!(parse("m").is_err());
    }
}
