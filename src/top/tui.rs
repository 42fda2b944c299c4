//! The live view (ratatui over crossterm): a node line, a sortable table and a key line.
//! Keys: `q` quits; `<`/`>` (or left/right) move the sort column, `r` reverses it, `c`, `m`,
//! `n` sort by CPU, memory, name; `g` toggles pod/container rows; `/` types a new filter (Enter
//! keeps it, Esc clears it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row as TRow, Table};
use ratatui::{DefaultTerminal, Frame};

use super::model::{Node, Row, Snapshot};
use super::output::{self, Column, COLUMNS};
use super::{Source, TopArgs};

struct State {
    args: TopArgs,
    sort: usize,
    reverse: bool,
    filter: String,
    editing: bool,
    prev: Option<Snapshot>,
    cur: Option<Snapshot>,
    restarts: BTreeMap<(String, String, String), u64>,
    error: Option<String>,
    source: String,
}

/// Runs the view until `q`; the terminal is restored on every exit path.
pub fn run(source: &mut Source, args: &TopArgs) -> Result<(), String> {
    let mut terminal = ratatui::try_init().map_err(|e| format!("terminal: {e}"))?;
    let result = run_in(&mut terminal, source, args);
    ratatui::restore();
    result
}

fn run_in(
    terminal: &mut DefaultTerminal,
    source: &mut Source,
    args: &TopArgs,
) -> Result<(), String> {
    let mut st = State {
        args: args.clone(),
        sort: COLUMNS.iter().position(|c| *c == args.sort_by).unwrap_or(3),
        reverse: false,
        filter: args.filter.clone(),
        editing: false,
        prev: None,
        cur: None,
        restarts: BTreeMap::new(),
        error: None,
        source: source.describe(),
    };
    let mut next_read = Instant::now();
    loop {
        if Instant::now() >= next_read {
            match source.read() {
                Ok(s) => {
                    st.prev = st.cur.take();
                    st.cur = Some(s);
                    st.restarts = source.restarts();
                    st.error = None;
                }
                Err(e) => st.error = Some(e),
            }
            // The first two reads are a short interval apart so that rates show quickly.
            let wait = if st.prev.is_none() {
                args.interval.min(Duration::from_secs(1))
            } else {
                args.interval
            };
            next_read = Instant::now() + wait;
        }
        terminal
            .draw(|f| draw(f, &st))
            .map_err(|e| format!("terminal: {e}"))?;
        let timeout = next_read.saturating_duration_since(Instant::now());
        if !event::poll(timeout).map_err(|e| format!("terminal: {e}"))? {
            continue;
        }
        let Event::Key(key) = event::read().map_err(|e| format!("terminal: {e}"))? else {
            continue;
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        if st.editing {
            match key.code {
                KeyCode::Enter => st.editing = false,
                KeyCode::Esc => {
                    st.editing = false;
                    st.filter.clear();
                }
                KeyCode::Backspace => {
                    st.filter.pop();
                }
                KeyCode::Char(c) => st.filter.push(c),
                _ => {}
            }
            continue;
        }
        match key.code {
            KeyCode::Char('q') => return Ok(()),
            KeyCode::Char('/') => {
                st.editing = true;
                st.filter.clear();
            }
            KeyCode::Esc => st.filter.clear(),
            KeyCode::Char('>') | KeyCode::Right => st.sort = (st.sort + 1) % COLUMNS.len(),
            KeyCode::Char('<') | KeyCode::Left => {
                st.sort = (st.sort + COLUMNS.len() - 1) % COLUMNS.len()
            }
            KeyCode::Char('r') => st.reverse = !st.reverse,
            KeyCode::Char('c') => set_sort(&mut st, Column::Cpu),
            KeyCode::Char('m') => set_sort(&mut st, Column::Memory),
            KeyCode::Char('n') => set_sort(&mut st, Column::Container),
            KeyCode::Char('l') => set_sort(&mut st, Column::Log),
            KeyCode::Char('g') => st.args.by_pod = !st.args.by_pod,
            _ => {}
        }
    }
}

fn set_sort(st: &mut State, c: Column) {
    st.sort = COLUMNS.iter().position(|x| *x == c).unwrap_or(0);
    st.reverse = false;
}

fn current(st: &State) -> (Node, Vec<Row>) {
    match (&st.prev, &st.cur) {
        (Some(p), Some(c)) => super::view(
            p,
            c,
            &st.restarts,
            &st.args,
            COLUMNS[st.sort],
            st.reverse,
            &st.filter,
        ),
        _ => (Node::default(), Vec::new()),
    }
}

fn draw(f: &mut Frame, st: &State) {
    let (node, rows) = current(st);
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let status = match (&st.error, st.prev.is_some()) {
        (Some(e), _) => format!("error: {e}"),
        (None, false) => "reading...".to_string(),
        (None, true) => format!(
            "{} rows  sort: {}{}  group: {}  filter: {}",
            rows.len(),
            COLUMNS[st.sort].key(),
            if st.reverse { " (reversed)" } else { "" },
            if st.args.by_pod { "pod" } else { "container" },
            if st.filter.is_empty() {
                "-"
            } else {
                &st.filter
            },
        ),
    };
    f.render_widget(
        Paragraph::new(vec![
            Line::from(output::node_line(&node)),
            Line::from(status),
        ]),
        top,
    );
    let header = TRow::new(COLUMNS.iter().enumerate().map(|(i, c)| {
        let title = if i == st.sort {
            format!("{}{}", c.title(), if st.reverse { "^" } else { "v" })
        } else {
            c.title().to_string()
        };
        Cell::from(title)
    }))
    .style(Style::default().add_modifier(Modifier::REVERSED));
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| COLUMNS.iter().map(|c| c.cell(r)).collect())
        .collect();
    let widths: Vec<Constraint> = (0..COLUMNS.len())
        .map(|i| {
            let w = cells
                .iter()
                .map(|l| l[i].len())
                .chain([COLUMNS[i].title().len() + 1])
                .max()
                .unwrap_or(1);
            Constraint::Length(w.min(40) as u16)
        })
        .collect();
    let table = Table::new(cells.into_iter().map(TRow::new), widths)
        .header(header)
        .column_spacing(1);
    f.render_widget(table, body);
    let help = if st.editing {
        format!("filter: {}_  (Enter keep, Esc clear)", st.filter)
    } else {
        format!(
            "q quit  </> sort column  r reverse  c cpu  m mem  l log  n name  g group  / filter   [{}]",
            st.source
        )
    };
    f.render_widget(Paragraph::new(help), bottom);
}
