//! Validates every document in [`super::queries::ALL`] against the committed
//! `pacer-server/schema.graphql`: operation roots, field existence and leaf/composite
//! selections, argument names, required arguments, literal values (enum values, input object
//! fields), variable declarations, use and type compatibility (the spec's
//! `IsVariableUsageAllowed`), fragments and their type conditions. A drift between the console
//! and the server's schema fails `cargo test -p pacer-web`.

use super::queries;
use graphql_parser::query::{
    self as q, Definition as QDef, OperationDefinition, Selection, SelectionSet, Type, TypeCondition, Value,
};
use graphql_parser::schema::{self as s, Definition as SDef, TypeDefinition};
use std::collections::{BTreeMap, BTreeSet};

/// One argument or input field: its type and whether it has a default.
#[derive(Clone)]
struct Input<'a> {
    ty: Type<'a, &'a str>,
    has_default: bool,
}

struct FieldDef<'a> {
    ty: Type<'a, &'a str>,
    args: BTreeMap<&'a str, Input<'a>>,
}

enum Kind<'a> {
    Scalar,
    Enum(BTreeSet<&'a str>),
    Object(BTreeMap<&'a str, FieldDef<'a>>),
    InputObject(BTreeMap<&'a str, Input<'a>>),
    Other,
}

struct Schema<'a> {
    types: BTreeMap<&'a str, Kind<'a>>,
    query: &'a str,
    mutation: &'a str,
    subscription: &'a str,
}

fn inputs<'a>(values: &[s::InputValue<'a, &'a str>]) -> BTreeMap<&'a str, Input<'a>> {
    values
        .iter()
        .map(|v| (v.name, Input { ty: v.value_type.clone(), has_default: v.default_value.is_some() }))
        .collect()
}

impl<'a> Schema<'a> {
    fn parse(sdl: &'a str) -> Result<Self, String> {
        let doc =
            graphql_parser::parse_schema::<&str>(sdl).map_err(|e| format!("schema does not parse: {e}"))?;
        let mut types: BTreeMap<&str, Kind> =
            ["Int", "Float", "String", "Boolean", "ID"].into_iter().map(|n| (n, Kind::Scalar)).collect();
        let (mut query, mut mutation, mut subscription) = ("Query", "Mutation", "Subscription");
        for def in doc.definitions {
            match def {
                SDef::SchemaDefinition(d) => {
                    query = d.query.unwrap_or(query);
                    mutation = d.mutation.unwrap_or(mutation);
                    subscription = d.subscription.unwrap_or(subscription);
                }
                SDef::TypeDefinition(TypeDefinition::Scalar(t)) => {
                    types.insert(t.name, Kind::Scalar);
                }
                SDef::TypeDefinition(TypeDefinition::Enum(t)) => {
                    types.insert(t.name, Kind::Enum(t.values.iter().map(|v| v.name).collect()));
                }
                SDef::TypeDefinition(TypeDefinition::Object(t)) => {
                    let fields = t
                        .fields
                        .iter()
                        .map(|f| (f.name, FieldDef { ty: f.field_type.clone(), args: inputs(&f.arguments) }))
                        .collect();
                    types.insert(t.name, Kind::Object(fields));
                }
                SDef::TypeDefinition(TypeDefinition::InputObject(t)) => {
                    types.insert(t.name, Kind::InputObject(inputs(&t.fields)));
                }
                SDef::TypeDefinition(TypeDefinition::Interface(t)) => {
                    types.insert(t.name, Kind::Other);
                }
                SDef::TypeDefinition(TypeDefinition::Union(t)) => {
                    types.insert(t.name, Kind::Other);
                }
                SDef::TypeExtension(_) | SDef::DirectiveDefinition(_) => {}
            }
        }
        Ok(Self { types, query, mutation, subscription })
    }
}

fn named<'a>(ty: &Type<'a, &'a str>) -> &'a str {
    match ty {
        Type::NamedType(n) => n,
        Type::ListType(inner) | Type::NonNullType(inner) => named(inner),
    }
}

/// `AreTypesCompatible(variableType, locationType)` of the GraphQL spec.
fn compatible<'a>(var: &Type<'a, &'a str>, location: &Type<'a, &'a str>) -> bool {
    match (var, location) {
        (Type::NonNullType(v), Type::NonNullType(l)) => compatible(v, l),
        (_, Type::NonNullType(_)) => false,
        (Type::NonNullType(v), l) => compatible(v, l),
        (Type::ListType(v), Type::ListType(l)) => compatible(v, l),
        (Type::ListType(_), _) | (_, Type::ListType(_)) => false,
        (Type::NamedType(v), Type::NamedType(l)) => v == l,
    }
}

struct Variable<'a> {
    ty: Type<'a, &'a str>,
    has_default: bool,
}

struct Checker<'s, 'a> {
    schema: &'s Schema<'a>,
    fragments: BTreeMap<&'a str, &'s q::FragmentDefinition<'a, &'a str>>,
    variables: BTreeMap<&'a str, Variable<'a>>,
    used_variables: BTreeSet<&'a str>,
    used_fragments: BTreeSet<&'a str>,
    errors: Vec<String>,
}

impl<'s, 'a> Checker<'s, 'a> {
    fn value(&mut self, at: &str, value: &Value<'a, &'a str>, expected: &Input<'a>) {
        let ty = &expected.ty;
        match (value, ty) {
            (Value::Variable(name), _) => {
                self.used_variables.insert(name);
                match self.variables.get(name) {
                    None => self.errors.push(format!("{at}: variable ${name} is not declared")),
                    Some(var) => {
                        // IsVariableUsageAllowed: a nullable variable may feed a non-null
                        // location that has a default, or when the variable has one.
                        let (var_ty, loc_ty) = match (&var.ty, ty) {
                            (v, Type::NonNullType(inner))
                                if !matches!(v, Type::NonNullType(_))
                                    && (var.has_default || expected.has_default) =>
                            {
                                (v.clone(), (**inner).clone())
                            }
                            (v, l) => (v.clone(), l.clone()),
                        };
                        if !compatible(&var_ty, &loc_ty) {
                            self.errors
                                .push(format!("{at}: variable ${name} of type {} cannot feed {ty}", var.ty));
                        }
                    }
                }
            }
            (Value::Null, Type::NonNullType(_)) => self.errors.push(format!("{at}: null for non-null {ty}")),
            (Value::Null, _) => {}
            (_, Type::NonNullType(inner)) => {
                self.value(at, value, &Input { ty: (**inner).clone(), has_default: false });
            }
            (Value::List(items), Type::ListType(inner)) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(
                        &format!("{at}[{i}]"),
                        item,
                        &Input { ty: (**inner).clone(), has_default: false },
                    );
                }
            }
            // A single value is coerced to a one-item list.
            (_, Type::ListType(inner)) => {
                self.value(at, value, &Input { ty: (**inner).clone(), has_default: false })
            }
            (_, Type::NamedType(name)) => self.named_value(at, value, name),
        }
    }

    fn named_value(&mut self, at: &str, value: &Value<'a, &'a str>, name: &str) {
        match (self.schema.types.get(name), value) {
            (None, _) => self.errors.push(format!("{at}: unknown type {name}")),
            (Some(Kind::Enum(values)), Value::Enum(v)) => {
                if !values.contains(v) {
                    self.errors.push(format!("{at}: {v} is not a value of enum {name}"));
                }
            }
            (Some(Kind::InputObject(fields)), Value::Object(given)) => {
                for (field, v) in given {
                    match fields.get(field) {
                        Some(input) => self.value(&format!("{at}.{field}"), v, &input.clone()),
                        None => self.errors.push(format!("{at}: input {name} has no field {field}")),
                    }
                }
                for (field, input) in fields {
                    if matches!(input.ty, Type::NonNullType(_))
                        && !input.has_default
                        && !given.contains_key(field)
                    {
                        self.errors.push(format!("{at}: input {name} needs field {field}"));
                    }
                }
            }
            (Some(Kind::Scalar), v) => {
                let ok = match (name, v) {
                    ("Int", Value::Int(_)) | ("Float", Value::Int(_) | Value::Float(_)) => true,
                    ("Boolean", Value::Boolean(_)) => true,
                    ("String", Value::String(_)) => true,
                    ("ID", Value::String(_) | Value::Int(_)) => true,
                    ("Int" | "Float" | "Boolean" | "String" | "ID", _) => false,
                    // Custom scalars (BigInt, DateTime, JSON) take what their server parses.
                    _ => true,
                };
                if !ok {
                    self.errors.push(format!("{at}: a {name} literal expected"));
                }
            }
            (Some(_), _) => self.errors.push(format!("{at}: a literal of the wrong shape for {name}")),
        }
    }

    fn selection_set(&mut self, at: &str, type_name: &'a str, set: &'s SelectionSet<'a, &'a str>) {
        let Some(Kind::Object(fields)) = self.schema.types.get(type_name) else {
            self.errors.push(format!("{at}: {type_name} is not an object type"));
            return;
        };
        if set.items.is_empty() {
            self.errors.push(format!("{at}: empty selection on {type_name}"));
        }
        for item in &set.items {
            match item {
                Selection::Field(field) => {
                    let here = format!("{at}.{}", field.name);
                    if field.name == "__typename" {
                        continue;
                    }
                    let Some(def) = fields.get(field.name) else {
                        self.errors.push(format!("{here}: {type_name} has no field {}", field.name));
                        continue;
                    };
                    for (arg, value) in &field.arguments {
                        match def.args.get(arg) {
                            Some(input) => self.value(&format!("{here}({arg})"), value, &input.clone()),
                            None => self.errors.push(format!("{here}: no argument {arg}")),
                        }
                    }
                    for (arg, input) in &def.args {
                        let given = field.arguments.iter().any(|(a, _)| a == arg);
                        if matches!(input.ty, Type::NonNullType(_)) && !input.has_default && !given {
                            self.errors.push(format!("{here}: required argument {arg} missing"));
                        }
                    }
                    let out = named(&def.ty);
                    match self.schema.types.get(out) {
                        Some(Kind::Object(_)) => self.selection_set(&here, out, &field.selection_set),
                        Some(Kind::Scalar | Kind::Enum(_)) => {
                            if !field.selection_set.items.is_empty() {
                                self.errors.push(format!("{here}: {out} is a leaf and takes no selection"));
                            }
                        }
                        _ => self.errors.push(format!("{here}: unsupported output type {out}")),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name;
                    match self.fragments.get(name).copied() {
                        None => self.errors.push(format!("{at}: unknown fragment {name}")),
                        Some(fragment) => {
                            let TypeCondition::On(on) = fragment.type_condition;
                            if on != type_name {
                                self.errors
                                    .push(format!("{at}: fragment {name} is on {on}, spread on {type_name}"));
                            }
                            if self.used_fragments.insert(name) {
                                self.selection_set(&format!("{at}...{name}"), on, &fragment.selection_set);
                            }
                        }
                    }
                }
                Selection::InlineFragment(inline) => {
                    let on = match &inline.type_condition {
                        Some(TypeCondition::On(on)) => *on,
                        None => type_name,
                    };
                    if on != type_name {
                        self.errors.push(format!("{at}: inline fragment on {on} inside {type_name}"));
                    }
                    self.selection_set(at, on, &inline.selection_set);
                }
            }
        }
    }
}

/// Every problem of `document` against `schema` (empty when it is valid).
fn check_document<'a>(schema: &Schema<'a>, document: &'a str) -> Vec<String> {
    let doc = match graphql_parser::parse_query::<&str>(document) {
        Ok(doc) => doc,
        Err(e) => return vec![format!("does not parse: {e}")],
    };
    let mut fragments = BTreeMap::new();
    let mut operations = Vec::new();
    for def in &doc.definitions {
        match def {
            QDef::Fragment(f) => {
                if fragments.insert(f.name, f).is_some() {
                    return vec![format!("fragment {} defined twice", f.name)];
                }
            }
            QDef::Operation(op) => operations.push(op),
        }
    }
    let [operation] = operations.as_slice() else {
        return vec![format!("expected exactly one operation, found {}", operations.len())];
    };
    let (root, vars, set) = match operation {
        OperationDefinition::Query(op) => (schema.query, &op.variable_definitions, &op.selection_set),
        OperationDefinition::Mutation(op) => (schema.mutation, &op.variable_definitions, &op.selection_set),
        OperationDefinition::Subscription(op) => {
            (schema.subscription, &op.variable_definitions, &op.selection_set)
        }
        OperationDefinition::SelectionSet(set) => (schema.query, &Vec::new(), set),
    };
    let mut checker = Checker {
        schema,
        fragments,
        variables: BTreeMap::new(),
        used_variables: BTreeSet::new(),
        used_fragments: BTreeSet::new(),
        errors: Vec::new(),
    };
    for var in vars.iter() {
        match schema.types.get(named(&var.var_type)) {
            Some(Kind::Scalar | Kind::Enum(_) | Kind::InputObject(_)) => {}
            _ => checker.errors.push(format!("${}: {} is not an input type", var.name, var.var_type)),
        }
        let variable = Variable { ty: var.var_type.clone(), has_default: var.default_value.is_some() };
        if checker.variables.insert(var.name, variable).is_some() {
            checker.errors.push(format!("${} declared twice", var.name));
        }
    }
    checker.selection_set(root, root, set);
    for name in checker.variables.keys() {
        if !checker.used_variables.contains(name) {
            checker.errors.push(format!("${name} is declared but never used"));
        }
    }
    for name in checker.fragments.keys() {
        if !checker.used_fragments.contains(name) {
            checker.errors.push(format!("fragment {name} is never used"));
        }
    }
    checker.errors
}

fn schema_text() -> String {
    // The run-time variable: a test binary reused from another checkout keeps its build-time path.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR");
    let path = std::path::Path::new(&dir).join("../pacer-server/schema.graphql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn every_document_matches_the_committed_schema() {
    let sdl = schema_text();
    let schema = Schema::parse(&sdl).expect("schema parses");
    let failures: Vec<String> = queries::ALL
        .iter()
        .flat_map(|(name, doc)| check_document(&schema, doc).into_iter().map(move |e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "documents drifted from schema.graphql:\n{}", failures.join("\n"));
}

#[test]
fn every_document_is_listed_for_the_check() {
    let source = include_str!("queries.rs");
    let declared: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("pub(crate) const "))
        .filter_map(|l| l.split_once(": &str"))
        .map(|(name, _)| name)
        .collect();
    let listed: Vec<&str> = queries::ALL.iter().map(|(name, _)| *name).collect();
    assert!(declared.len() > 20, "found the declarations");
    assert_eq!(declared, listed, "queries::ALL must list every document, in order");
}

#[test]
fn the_checker_catches_drift() {
    let sdl = schema_text();
    let schema = Schema::parse(&sdl).expect("schema parses");
    let cases = [
        ("query { overview { projectz } }", "has no field projectz"),
        ("query { overview(days: 3) { projects } }", "no argument days"),
        ("query { job { id } }", "required argument id missing"),
        ("query Q($id: String!) { job(id: $id) { id } }", "cannot feed"),
        ("query Q($id: ID) { job(id: $id) { id } }", "cannot feed"),
        ("query Q($w: Int!) { overview { projects } }", "never used"),
        ("query { job(id: $x) { id } }", "not declared"),
        ("query { overview }", "empty selection"),
        ("query { overview { projects { x } } }", "is a leaf"),
        ("query { stats(window: {weeks: 1}) { from } }", "has no field weeks"),
        ("query { stats(window: {days: 1}, groupBy: TEAM) { from } }", "not a value of enum"),
        ("query { jobs { nodes { ...J } } } fragment J on Pool { id }", "spread on Job"),
        ("mutation { createProject(input: {cap: 1}) { id } }", "needs field name"),
        ("subscription { jobChanged { id } } query { me { email } }", "exactly one operation"),
    ];
    for (doc, expected) in cases {
        let errors = check_document(&schema, doc);
        assert!(errors.iter().any(|e| e.contains(expected)), "{doc}: expected {expected:?}, got {errors:?}");
    }
    // Defaults make a nullable variable acceptable; a non-null variable feeds a nullable slot.
    assert_eq!(
        check_document(&schema, "query Q($n: Int) { overview(windowDays: $n) { projects } }"),
        [] as [String; 0]
    );
    let errors = check_document(&schema, "query Q($id: ID!) { jobs(after: $id) { totalCount } }");
    assert!(errors.iter().any(|e| e.contains("variable $id of type ID! cannot feed String")), "{errors:?}");
}
