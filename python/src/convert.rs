//! Python values to and from the registry's values, and the module's exceptions.

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PySequence, PyString, PyTuple};
use watchtower_engine::RawValue;
use watchtower_protocol::{ErrorCode, GodResponse, IndicatorValue, Indicators, ParamValue};
use watchtower_runner::ScenarioError;

pyo3::create_exception!(
    watchtower,
    CommandError,
    PyValueError,
    "A command the registry refused: an unknown key, a wrong type, a value out of range, a\nkey that can only be set before the run starts. `code` is the protocol's error code\n(`unknown_key`, `wrong_type`, `not_finite`, `out_of_range`, `not_live`, `not_paused`)."
);

pyo3::create_exception!(
    watchtower,
    EngineError,
    PyRuntimeError,
    "The engine stopped: the economy can no longer be trusted (its books, a value too large\nfor integer cents). The economy refuses every later call that would run it."
);

/// A Python value as the registry receives it from outside, like a YAML scalar or a
/// `--set` value: `bool`, `int` and `float` (NumPy scalars too) are taken as they are,
/// anything else is passed on for the registry to refuse with its own message.
pub fn raw_value(value: &Bound<'_, PyAny>) -> RawValue {
    // `bool` and NumPy's bools (an `int` is not taken as a bool).
    if let Ok(b) = value.extract::<bool>() {
        return RawValue::Bool(b);
    }
    if value.is_none() {
        return RawValue::Other("null");
    }
    if let Ok(s) = value.cast::<PyString>() {
        return RawValue::Text(s.to_string_lossy().into_owned());
    }
    if value.is_instance_of::<PyInt>() || value.hasattr("__index__").unwrap_or(false) {
        if let Ok(i) = value.extract::<i64>() {
            return RawValue::Int(i);
        }
        if let Ok(x) = value.extract::<f64>() {
            return RawValue::Float(x); // beyond i64: the registry says out of range
        }
    }
    if (value.is_instance_of::<PyFloat>() || value.hasattr("__float__").unwrap_or(false))
        && let Ok(x) = value.extract::<f64>()
    {
        return RawValue::Float(x);
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return RawValue::Other("a list");
    }
    if value.is_instance_of::<PyDict>() {
        return RawValue::Other("a map");
    }
    RawValue::Other("an object of another type")
}

/// A registry value as Python's `bool`, `int` or `float`.
pub fn param<'py>(py: Python<'py>, value: ParamValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        ParamValue::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        ParamValue::Int(i) => i.into_pyobject(py)?.into_any(),
        ParamValue::Float(x) => x.into_pyobject(py)?.into_any(),
    })
}

/// A JSON value as Python (for a command's stored value).
pub fn json<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        serde_json::Value::Null => py.None().into_bound(py),
        serde_json::Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any(),
            None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        serde_json::Value::String(s) => s.into_pyobject(py)?.into_any(),
        serde_json::Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json(py, item)?)?;
            }
            list.into_any()
        }
        serde_json::Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// One tick's indicators as a dict, `tick` first, as reported (money in genesis currency
/// units).
pub fn indicators<'py>(py: Python<'py>, tick: u64, values: &Indicators) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("tick", tick)?;
    for ((name, _), value) in Indicators::FIELDS.iter().zip(values.reported()) {
        match value {
            IndicatorValue::Int(i) => dict.set_item(*name, i)?,
            IndicatorValue::Real(x) => dict.set_item(*name, x)?,
        }
    }
    Ok(dict)
}

/// The protocol's name for an error code (`out_of_range`, ...).
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// A refused command as [`CommandError`], with its `code` and `key`.
pub fn command_error(py: Python<'_>, response: &GodResponse) -> PyErr {
    let message = response.error.clone().unwrap_or_else(|| format!("`{}` was refused", response.key));
    let err = CommandError::new_err(message);
    let value = err.value(py);
    let _ = value.setattr("code", response.code.map(code_name));
    let _ = value.setattr("key", &response.key);
    err
}

/// A scenario that cannot be built: the registry's (or the file's) message as `ValueError`,
/// an unreadable file as `OSError`.
pub fn scenario_error(e: ScenarioError) -> PyErr {
    match e {
        ScenarioError::Io { .. } => PyOSError::new_err(e.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// A whole number `>= min` for a size or a seed; `TypeError` for a non-integer,
/// `ValueError` naming `what` for a negative or too small one.
pub fn count(value: &Bound<'_, PyAny>, what: &str, min: u64) -> PyResult<u64> {
    if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.hasattr("__index__")?) {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a whole number, not {}",
            value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "that".into())
        )));
    }
    match value.extract::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(PyValueError::new_err(format!("{what} must be a whole number of at least {min}, not {value}"))),
    }
}

/// Iterates a mapping's items (a dict or any `collections.abc.Mapping`).
pub fn mapping_items<'py>(
    value: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let mapping = value
        .cast::<PyMapping>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a dict, not {}", type_name(value))))?;
    let items = mapping.items()?;
    let mut out = Vec::new();
    for item in items.iter() {
        let pair = item.cast::<PyTuple>()?;
        out.push((pair.get_item(0)?, pair.get_item(1)?));
    }
    Ok(out)
}

/// A list or tuple's items (not a string).
pub fn sequence_items<'py>(value: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if value.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be a list, not a string")));
    }
    let seq = value
        .cast::<PySequence>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a list, not {}", type_name(value))))?;
    (0..seq.len()?).map(|i| seq.get_item(i)).collect()
}

/// The name of a value's type, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}
