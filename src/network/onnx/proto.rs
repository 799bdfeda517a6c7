//! The part of ONNX's protobuf schema (`onnx.proto`, IR version 3–10) that sequential CNNs
//! use, decoded and encoded by hand: no generated code, no `protoc`, and every length checked
//! against the bytes that are really there before anything is allocated from it.
//!
//! Wire format (protobuf): a message is a sequence of fields, each a key `field << 3 | wire
//! type` (varint) and a value — a varint (type 0), 8 bytes (1), a varint length and that many
//! bytes (2: strings, bytes, nested messages and packed repeated scalars), or 4 bytes (5).
//! Repeated scalars may come packed (one length-delimited run) or one field each; both are
//! accepted, as protobuf requires. Unknown fields are skipped.
//!
//! Field numbers used (from `onnx.proto`):
//!
//! ```text
//! ModelProto      1 ir_version, 2 producer_name, 3 producer_version, 6 doc_string, 7 graph,
//!                 8 opset_import, 14 metadata_props
//! OperatorSetId   1 domain, 2 version            StringStringEntry  1 key, 2 value
//! GraphProto      1 node, 2 name, 5 initializer, 11 input, 12 output, 15 sparse_initializer
//! NodeProto       1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
//! AttributeProto  1 name, 2 f, 3 i, 4 s, 5 t, 7 floats, 8 ints, 20 type
//! TensorProto     1 dims, 2 data_type, 3 segment, 4 float_data, 5 int32_data, 7 int64_data,
//!                 8 name, 9 raw_data, 10 double_data, 13 external_data, 14 data_location
//! ValueInfoProto  1 name, 2 type;  TypeProto 1 tensor_type;  TypeProto.Tensor 1 elem_type, 2 shape
//! TensorShapeProto 1 dim;  Dimension 1 dim_value, 2 dim_param
//! ```
//!
//! Decoding borrows from the input: a tensor's data stays a slice of the file until
//! [`TensorProto::floats`] or [`TensorProto::ints`] converts it, after checking that the
//! element count its dimensions claim is the count present.

use crate::error::{Error, Result};

/// ONNX `TensorProto.DataType` values this module converts.
pub const FLOAT: i32 = 1;
pub const INT32: i32 = 6;
pub const INT64: i32 = 7;
pub const DOUBLE: i32 = 11;

/// Most dimensions a tensor may have here (ONNX allows more; CNN tensors have at most 5).
const MAX_RANK: usize = 8;

/// A decoding failure: what was wrong, where (the message path).
fn malformed(what: impl std::fmt::Display) -> Error {
    Error::Config(format!("malformed ONNX protobuf: {what}"))
}

/// One field's value on the wire.
#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Reads the fields of one message.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(malformed(format!("{} ends inside a number (truncated file?)", self.what)));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(malformed(format!("{}: a number longer than 64 bits", self.what)));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed(format!("{}: a number longer than 10 bytes", self.what)))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(malformed(format!("{} claims a field of {n} bytes where only {left} remain (truncated file?)", self.what)));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    /// The next field, or `None` at the end of the message.
    fn next(&mut self) -> Result<Option<(u32, Value<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 || field > u32::MAX as u64 {
            return Err(malformed(format!("{}: field number {field}", self.what)));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            2 => {
                let n = self.varint()?;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            t => return Err(malformed(format!("{}: wire type {t} (groups or garbage) in field {field}", self.what))),
        };
        Ok(Some((field as u32, value)))
    }
}

fn want_varint(v: Value, what: &str) -> Result<u64> {
    match v {
        Value::Varint(x) => Ok(x),
        _ => Err(malformed(format!("{what} should be a number"))),
    }
}

fn want_bytes<'a>(v: Value<'a>, what: &str) -> Result<&'a [u8]> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(format!("{what} should be length-delimited"))),
    }
}

fn want_string(v: Value, what: &str) -> Result<String> {
    let b = want_bytes(v, what)?;
    String::from_utf8(b.to_vec()).map_err(|_| malformed(format!("{what} is not UTF-8")))
}

/// Appends the int64 values of a repeated field (packed or not).
fn push_varints(v: Value, out: &mut Vec<i64>, what: &'static str) -> Result<()> {
    match v {
        Value::Varint(x) => out.push(x as i64),
        Value::Bytes(b) => {
            let mut r = Reader::new(b, what);
            while r.pos < b.len() {
                out.push(r.varint()? as i64);
            }
        }
        _ => return Err(malformed(format!("{what} should hold integers"))),
    }
    Ok(())
}

/// Appends the float values of a repeated field (packed or not).
fn push_floats(v: Value, out: &mut Vec<f32>, what: &str) -> Result<()> {
    match v {
        Value::Fixed32(x) => out.push(f32::from_bits(x)),
        Value::Bytes(b) if b.len() % 4 == 0 => out.extend(b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))),
        _ => return Err(malformed(format!("{what} should hold 4-byte floats"))),
    }
    Ok(())
}

/// Appends the double values of a repeated field (packed or not).
fn push_doubles(v: Value, out: &mut Vec<f64>, what: &str) -> Result<()> {
    match v {
        Value::Fixed64(x) => out.push(f64::from_bits(x)),
        Value::Bytes(b) if b.len() % 8 == 0 => out.extend(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))),
        _ => return Err(malformed(format!("{what} should hold 8-byte doubles"))),
    }
    Ok(())
}

/// A tensor: dimensions, element type and its data, still in wire form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorProto<'a> {
    pub name: String,
    pub dims: Vec<i64>,
    pub data_type: i32,
    raw: Option<&'a [u8]>,
    float_data: Vec<f32>,
    int_data: Vec<i64>,
    double_data: Vec<f64>,
    external: bool,
}

impl<'a> TensorProto<'a> {
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let mut t = TensorProto::default();
        let mut r = Reader::new(buf, "TensorProto");
        while let Some((field, v)) = r.next()? {
            match field {
                1 => push_varints(v, &mut t.dims, "TensorProto.dims")?,
                2 => t.data_type = want_varint(v, "TensorProto.data_type")? as i32,
                3 => return Err(malformed("segmented tensors are not supported")),
                4 => push_floats(v, &mut t.float_data, "TensorProto.float_data")?,
                5 | 7 => push_varints(v, &mut t.int_data, "TensorProto.int_data")?,
                8 => t.name = want_string(v, "TensorProto.name")?,
                9 => t.raw = Some(want_bytes(v, "TensorProto.raw_data")?),
                10 => push_doubles(v, &mut t.double_data, "TensorProto.double_data")?,
                13 => t.external = true,
                14 => t.external |= want_varint(v, "TensorProto.data_location")? == 1,
                _ => {}
            }
            if t.dims.len() > MAX_RANK {
                return Err(malformed(format!("tensor '{}' has more than {MAX_RANK} dimensions", t.name)));
            }
        }
        Ok(t)
    }

    /// A float tensor (for encoding).
    pub fn from_floats(name: &str, dims: &[usize], values: &'a [f32]) -> TensorProto<'a> {
        TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: FLOAT, float_data: values.to_vec(), ..Default::default() }
    }

    /// An int64 tensor (for encoding).
    pub fn from_ints(name: &str, dims: &[usize], values: &[i64]) -> TensorProto<'a> {
        TensorProto { name: name.into(), dims: dims.iter().map(|&d| d as i64).collect(), data_type: INT64, int_data: values.to_vec(), ..Default::default() }
    }

    /// The dimensions, each checked to be ≥ 0, and the element count they claim.
    pub fn shape(&self) -> Result<(Vec<usize>, usize)> {
        let mut count = 1usize;
        let mut dims = Vec::with_capacity(self.dims.len());
        for &d in &self.dims {
            let d = usize::try_from(d).map_err(|_| malformed(format!("tensor '{}' has a negative dimension {d}", self.name)))?;
            count = count.checked_mul(d).ok_or_else(|| malformed(format!("tensor '{}': dimensions {:?} overflow", self.name, self.dims)))?;
            dims.push(d);
        }
        Ok((dims, count))
    }

    /// Checks that `present` values are what the dimensions claim, before any conversion.
    fn check_count(&self, present: usize, elem: usize) -> Result<(Vec<usize>, usize)> {
        if self.external {
            return Err(malformed(format!("tensor '{}' keeps its data in an external file, which is not supported", self.name)));
        }
        let (dims, count) = self.shape()?;
        if count != present {
            let bytes = count as f64 * elem as f64;
            return Err(malformed(format!(
                "tensor '{}' claims dimensions {dims:?} ({count} values, {}) but holds {present} values",
                self.name,
                human_bytes(bytes)
            )));
        }
        Ok((dims, count))
    }

    /// The values as f32 (float and double tensors), with the dimensions.
    pub fn floats(&self) -> Result<(Vec<usize>, Vec<f32>)> {
        match self.data_type {
            FLOAT => match self.raw {
                Some(raw) => {
                    if raw.len() % 4 != 0 {
                        return Err(malformed(format!("tensor '{}': raw data of {} bytes is not whole floats", self.name, raw.len())));
                    }
                    let (dims, _) = self.check_count(raw.len() / 4, 4)?;
                    Ok((dims, raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()))
                }
                None => {
                    let (dims, _) = self.check_count(self.float_data.len(), 4)?;
                    Ok((dims, self.float_data.clone()))
                }
            },
            DOUBLE => match self.raw {
                Some(raw) => {
                    if raw.len() % 8 != 0 {
                        return Err(malformed(format!("tensor '{}': raw data of {} bytes is not whole doubles", self.name, raw.len())));
                    }
                    let (dims, _) = self.check_count(raw.len() / 8, 8)?;
                    Ok((dims, raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()))
                }
                None => {
                    let (dims, _) = self.check_count(self.double_data.len(), 8)?;
                    Ok((dims, self.double_data.iter().map(|&v| v as f32).collect()))
                }
            },
            t => Err(Error::Config(format!("tensor '{}' has ONNX data type {} ({}); weights must be float32 or float64", self.name, t, type_name(t)))),
        }
    }

    /// The values as i64 (int64 and int32 tensors), with the dimensions.
    pub fn ints(&self) -> Result<(Vec<usize>, Vec<i64>)> {
        let width = match self.data_type {
            INT64 => 8,
            INT32 => 4,
            t => return Err(Error::Config(format!("tensor '{}' has ONNX data type {} ({}); expected integers", self.name, t, type_name(t)))),
        };
        match self.raw {
            Some(raw) => {
                if raw.len() % width != 0 {
                    return Err(malformed(format!("tensor '{}': raw data of {} bytes is not whole integers", self.name, raw.len())));
                }
                let (dims, _) = self.check_count(raw.len() / width, width)?;
                let values = if width == 8 {
                    raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
                } else {
                    raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64).collect()
                };
                Ok((dims, values))
            }
            None => {
                let (dims, _) = self.check_count(self.int_data.len(), width)?;
                Ok((dims, self.int_data.iter().map(|&v| if width == 4 { v as i32 as i64 } else { v }).collect()))
            }
        }
    }

    fn encode(&self, w: &mut Writer) {
        for &d in &self.dims {
            w.varint_field(1, d as u64);
        }
        w.varint_field(2, self.data_type as u64);
        if !self.name.is_empty() {
            w.bytes_field(8, self.name.as_bytes());
        }
        if let Some(raw) = self.raw {
            w.bytes_field(9, raw);
        } else if self.data_type == FLOAT {
            let raw: Vec<u8> = self.float_data.iter().flat_map(|v| v.to_le_bytes()).collect();
            w.bytes_field(9, &raw);
        } else {
            let raw: Vec<u8> = self.int_data.iter().flat_map(|v| v.to_le_bytes()).collect();
            w.bytes_field(9, &raw);
        }
    }
}

/// ONNX's name of a data type, for messages.
pub fn type_name(t: i32) -> &'static str {
    match t {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        16 => "bfloat16",
        _ => "other",
    }
}

fn human_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{b} bytes")
    }
}

/// A node attribute.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttributeProto<'a> {
    pub name: String,
    pub f: Option<f32>,
    pub i: Option<i64>,
    pub s: Option<Vec<u8>>,
    pub t: Option<TensorProto<'a>>,
    pub floats: Vec<f32>,
    pub ints: Vec<i64>,
    /// True when the attribute holds a graph (control flow), which nothing here reads.
    pub graph: bool,
}

impl<'a> AttributeProto<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self> {
        let mut a = AttributeProto::default();
        let mut r = Reader::new(buf, "AttributeProto");
        while let Some((field, v)) = r.next()? {
            match field {
                1 => a.name = want_string(v, "AttributeProto.name")?,
                2 => match v {
                    Value::Fixed32(x) => a.f = Some(f32::from_bits(x)),
                    _ => return Err(malformed("AttributeProto.f should be a float")),
                },
                3 => a.i = Some(want_varint(v, "AttributeProto.i")? as i64),
                4 => a.s = Some(want_bytes(v, "AttributeProto.s")?.to_vec()),
                5 => a.t = Some(TensorProto::decode(want_bytes(v, "AttributeProto.t")?)?),
                6 | 11 => a.graph = true,
                7 => push_floats(v, &mut a.floats, "AttributeProto.floats")?,
                8 => push_varints(v, &mut a.ints, "AttributeProto.ints")?,
                _ => {}
            }
        }
        Ok(a)
    }

    fn encode(&self, w: &mut Writer) {
        w.bytes_field(1, self.name.as_bytes());
        // AttributeProto.type: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
        if let Some(f) = self.f {
            w.fixed32_field(2, f.to_bits());
            w.varint_field(20, 1);
        } else if let Some(i) = self.i {
            w.varint_field(3, i as u64);
            w.varint_field(20, 2);
        } else if let Some(s) = &self.s {
            w.bytes_field(4, s);
            w.varint_field(20, 3);
        } else if let Some(t) = &self.t {
            w.message_field(5, |w| t.encode(w));
            w.varint_field(20, 4);
        } else if !self.floats.is_empty() {
            for &f in &self.floats {
                w.fixed32_field(7, f.to_bits());
            }
            w.varint_field(20, 6);
        } else {
            for &i in &self.ints {
                w.varint_field(8, i as u64);
            }
            w.varint_field(20, 7);
        }
    }

    pub fn int(name: &str, i: i64) -> Self {
        AttributeProto { name: name.into(), i: Some(i), ..Default::default() }
    }

    pub fn float(name: &str, f: f32) -> Self {
        AttributeProto { name: name.into(), f: Some(f), ..Default::default() }
    }

    pub fn ints(name: &str, ints: &[i64]) -> Self {
        AttributeProto { name: name.into(), ints: ints.to_vec(), ..Default::default() }
    }
}

/// One operator application.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeProto<'a> {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<AttributeProto<'a>>,
}

impl<'a> NodeProto<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self> {
        let mut n = NodeProto::default();
        let mut r = Reader::new(buf, "NodeProto");
        while let Some((field, v)) = r.next()? {
            match field {
                1 => n.inputs.push(want_string(v, "NodeProto.input")?),
                2 => n.outputs.push(want_string(v, "NodeProto.output")?),
                3 => n.name = want_string(v, "NodeProto.name")?,
                4 => n.op_type = want_string(v, "NodeProto.op_type")?,
                5 => n.attributes.push(AttributeProto::decode(want_bytes(v, "NodeProto.attribute")?)?),
                7 => n.domain = want_string(v, "NodeProto.domain")?,
                _ => {}
            }
        }
        Ok(n)
    }

    fn encode(&self, w: &mut Writer) {
        for i in &self.inputs {
            w.bytes_field(1, i.as_bytes());
        }
        for o in &self.outputs {
            w.bytes_field(2, o.as_bytes());
        }
        w.bytes_field(3, self.name.as_bytes());
        w.bytes_field(4, self.op_type.as_bytes());
        for a in &self.attributes {
            w.message_field(5, |w| a.encode(w));
        }
    }

    /// The attribute called `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&AttributeProto<'a>> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// How the node is named in messages: its name, else its first output, and its op type.
    pub fn describe(&self) -> String {
        let name = if !self.name.is_empty() { self.name.as_str() } else { self.outputs.first().map(String::as_str).unwrap_or("?") };
        format!("node '{name}' ({})", self.op_type)
    }
}

/// A graph input or output: its name, element type and dimensions (`None` for a symbolic or
/// unknown dimension).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValueInfoProto {
    pub name: String,
    pub elem_type: i32,
    pub dims: Option<Vec<Option<i64>>>,
    /// Symbolic names of the dimensions (for encoding; empty = none).
    pub dim_params: Vec<Option<String>>,
}

impl ValueInfoProto {
    fn decode(buf: &[u8]) -> Result<Self> {
        let mut vi = ValueInfoProto::default();
        let mut r = Reader::new(buf, "ValueInfoProto");
        while let Some((field, v)) = r.next()? {
            match field {
                1 => vi.name = want_string(v, "ValueInfoProto.name")?,
                2 => {
                    let mut tr = Reader::new(want_bytes(v, "TypeProto")?, "TypeProto");
                    while let Some((f, tv)) = tr.next()? {
                        if f != 1 {
                            continue; // sequences, maps, …: not tensors
                        }
                        let mut rr = Reader::new(want_bytes(tv, "TypeProto.Tensor")?, "TypeProto.Tensor");
                        while let Some((f, v)) = rr.next()? {
                            match f {
                                1 => vi.elem_type = want_varint(v, "elem_type")? as i32,
                                2 => {
                                    let mut dims = Vec::new();
                                    let mut sr = Reader::new(want_bytes(v, "TensorShapeProto")?, "TensorShapeProto");
                                    while let Some((f, v)) = sr.next()? {
                                        if f != 1 {
                                            continue;
                                        }
                                        let mut value = None;
                                        let mut dr = Reader::new(want_bytes(v, "Dimension")?, "TensorShapeProto.Dimension");
                                        while let Some((f, v)) = dr.next()? {
                                            if f == 1 {
                                                value = Some(want_varint(v, "dim_value")? as i64);
                                            }
                                        }
                                        dims.push(value);
                                        if dims.len() > MAX_RANK {
                                            return Err(malformed(format!("value '{}' has more than {MAX_RANK} dimensions", vi.name)));
                                        }
                                    }
                                    vi.dims = Some(dims);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(vi)
    }

    fn encode(&self, w: &mut Writer) {
        w.bytes_field(1, self.name.as_bytes());
        w.message_field(2, |w| {
            w.message_field(1, |w| {
                w.varint_field(1, self.elem_type as u64);
                if let Some(dims) = &self.dims {
                    w.message_field(2, |w| {
                        for (k, d) in dims.iter().enumerate() {
                            w.message_field(1, |w| match (d, self.dim_params.get(k).and_then(|p| p.as_ref())) {
                                (Some(v), _) => w.varint_field(1, *v as u64),
                                (None, Some(p)) => w.bytes_field(2, p.as_bytes()),
                                (None, None) => {}
                            });
                        }
                    });
                }
            });
        });
    }
}

/// A graph: nodes in order, weights, inputs and outputs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphProto<'a> {
    pub name: String,
    pub nodes: Vec<NodeProto<'a>>,
    pub initializers: Vec<TensorProto<'a>>,
    pub inputs: Vec<ValueInfoProto>,
    pub outputs: Vec<ValueInfoProto>,
    pub sparse_initializers: usize,
}

impl<'a> GraphProto<'a> {
    fn decode(buf: &'a [u8]) -> Result<Self> {
        let mut g = GraphProto::default();
        let mut r = Reader::new(buf, "GraphProto");
        while let Some((field, v)) = r.next()? {
            match field {
                1 => g.nodes.push(NodeProto::decode(want_bytes(v, "GraphProto.node")?)?),
                2 => g.name = want_string(v, "GraphProto.name")?,
                5 => g.initializers.push(TensorProto::decode(want_bytes(v, "GraphProto.initializer")?)?),
                11 => g.inputs.push(ValueInfoProto::decode(want_bytes(v, "GraphProto.input")?)?),
                12 => g.outputs.push(ValueInfoProto::decode(want_bytes(v, "GraphProto.output")?)?),
                15 => g.sparse_initializers += 1,
                _ => {}
            }
        }
        Ok(g)
    }

    fn encode(&self, w: &mut Writer) {
        for n in &self.nodes {
            w.message_field(1, |w| n.encode(w));
        }
        w.bytes_field(2, self.name.as_bytes());
        for t in &self.initializers {
            w.message_field(5, |w| t.encode(w));
        }
        for i in &self.inputs {
            w.message_field(11, |w| i.encode(w));
        }
        for o in &self.outputs {
            w.message_field(12, |w| o.encode(w));
        }
    }
}

/// A whole ONNX model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelProto<'a> {
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub doc_string: String,
    /// (domain, version) pairs; the default domain is "" (or "ai.onnx").
    pub opset_import: Vec<(String, i64)>,
    pub metadata: Vec<(String, String)>,
    pub graph: Option<GraphProto<'a>>,
}

impl<'a> ModelProto<'a> {
    /// Decodes a model, borrowing tensor data from `buf`.
    pub fn decode(buf: &'a [u8]) -> Result<Self> {
        let mut m = ModelProto::default();
        let mut r = Reader::new(buf, "ModelProto");
        while let Some((field, v)) = r.next()? {
            match field {
                1 => m.ir_version = want_varint(v, "ModelProto.ir_version")? as i64,
                2 => m.producer_name = want_string(v, "ModelProto.producer_name")?,
                3 => m.producer_version = want_string(v, "ModelProto.producer_version")?,
                6 => m.doc_string = want_string(v, "ModelProto.doc_string")?,
                7 => {
                    if m.graph.is_some() {
                        return Err(malformed("two graphs in one model"));
                    }
                    m.graph = Some(GraphProto::decode(want_bytes(v, "ModelProto.graph")?)?)
                }
                8 => {
                    let (mut domain, mut version) = (String::new(), 0i64);
                    let mut or = Reader::new(want_bytes(v, "OperatorSetIdProto")?, "OperatorSetIdProto");
                    while let Some((f, v)) = or.next()? {
                        match f {
                            1 => domain = want_string(v, "OperatorSetIdProto.domain")?,
                            2 => version = want_varint(v, "OperatorSetIdProto.version")? as i64,
                            _ => {}
                        }
                    }
                    m.opset_import.push((domain, version));
                }
                14 => {
                    let (mut key, mut value) = (String::new(), String::new());
                    let mut er = Reader::new(want_bytes(v, "StringStringEntryProto")?, "StringStringEntryProto");
                    while let Some((f, v)) = er.next()? {
                        match f {
                            1 => key = want_string(v, "metadata key")?,
                            2 => value = want_string(v, "metadata value")?,
                            _ => {}
                        }
                    }
                    m.metadata.push((key, value));
                }
                _ => {}
            }
        }
        Ok(m)
    }

    /// Encodes the model.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.varint_field(1, self.ir_version as u64);
        w.bytes_field(2, self.producer_name.as_bytes());
        w.bytes_field(3, self.producer_version.as_bytes());
        w.bytes_field(6, self.doc_string.as_bytes());
        if let Some(g) = &self.graph {
            w.message_field(7, |w| g.encode(w));
        }
        for (domain, version) in &self.opset_import {
            w.message_field(8, |w| {
                w.bytes_field(1, domain.as_bytes());
                w.varint_field(2, *version as u64);
            });
        }
        for (k, v) in &self.metadata {
            w.message_field(14, |w| {
                w.bytes_field(1, k.as_bytes());
                w.bytes_field(2, v.as_bytes());
            });
        }
        w.buf
    }

    /// The version of the default operator set ("" or "ai.onnx"); ONNX files without one are
    /// taken as opset 1.
    pub fn default_opset(&self) -> i64 {
        self.opset_import.iter().find(|(d, _)| d.is_empty() || d == "ai.onnx").map(|&(_, v)| v).unwrap_or(1)
    }
}

/// Encodes protobuf fields.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint(((field as u64) << 3) | wire);
    }

    fn varint_field(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }

    fn fixed32_field(&mut self, field: u32, v: u32) {
        self.key(field, 5);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn bytes_field(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.buf.extend_from_slice(b);
    }

    fn message_field(&mut self, field: u32, f: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        f(&mut inner);
        self.bytes_field(field, &inner.buf);
    }
}

/// Decodes a bare `TensorProto` file (the `input_0.pb` / `output_0.pb` of ONNX's backend test
/// cases) into its dimensions and f32 values.
pub fn decode_tensor_file(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>)> {
    TensorProto::decode(bytes)?.floats()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-encoded: field 1 varint 300 is `08 ac 02` (300 = 0b10_0101100 → 0xac, 0x02).
    #[test]
    fn varints_by_hand() {
        let mut w = Writer::default();
        w.varint_field(1, 300);
        assert_eq!(w.buf, [0x08, 0xac, 0x02]);
        let mut r = Reader::new(&w.buf, "t");
        assert!(matches!(r.next().unwrap(), Some((1, Value::Varint(300)))));
        // −1 as int64 takes ten bytes on the wire.
        let mut w = Writer::default();
        w.varint_field(3, -1i64 as u64);
        assert_eq!(w.buf.len(), 11);
        let mut r = Reader::new(&w.buf, "t");
        assert!(matches!(r.next().unwrap(), Some((3, Value::Varint(u64::MAX)))));
    }

    #[test]
    fn tensors_round_trip_and_counts_are_checked() {
        let values = [1.0f32, -2.5, 3.25, 0.0, 7.0, 8.0];
        let t = TensorProto::from_floats("w", &[2, 3], &values);
        let mut w = Writer::default();
        t.encode(&mut w);
        let back = TensorProto::decode(&w.buf).unwrap();
        assert_eq!(back.floats().unwrap(), (vec![2, 3], values.to_vec()));
        // Unpacked float_data (one fixed32 field per value) reads the same.
        let mut w = Writer::default();
        w.varint_field(1, 2);
        w.varint_field(1, 3);
        w.varint_field(2, FLOAT as u64);
        for v in values {
            w.fixed32_field(4, v.to_bits());
        }
        assert_eq!(TensorProto::decode(&w.buf).unwrap().floats().unwrap().1, values);
        // A claim of 2^29 floats (2 GiB) over 24 bytes is refused before anything is allocated.
        let mut w = Writer::default();
        w.varint_field(1, 1 << 29);
        w.varint_field(2, FLOAT as u64);
        w.bytes_field(9, &[0u8; 24]);
        let e = TensorProto::decode(&w.buf).unwrap().floats().unwrap_err().to_string();
        assert!(e.contains("2.0 GiB") && e.contains("holds 6 values"), "{e}");
        // Dimensions whose product overflows, and negative ones.
        let mut w = Writer::default();
        for _ in 0..3 {
            w.varint_field(1, 1 << 40);
        }
        assert!(TensorProto::decode(&w.buf).unwrap().shape().unwrap_err().to_string().contains("overflow"));
        let mut w = Writer::default();
        w.varint_field(1, -4i64 as u64);
        assert!(TensorProto::decode(&w.buf).unwrap().shape().unwrap_err().to_string().contains("negative"));
        // Integers: int64 raw data.
        let t = TensorProto::from_ints("s", &[2], &[-1, 784]);
        let mut w = Writer::default();
        t.encode(&mut w);
        assert_eq!(TensorProto::decode(&w.buf).unwrap().ints().unwrap(), (vec![2], vec![-1, 784]));
    }

    #[test]
    fn truncated_and_garbage_bytes_are_errors() {
        // A length-delimited field claiming 1,000 bytes where 2 remain.
        let e = ModelProto::decode(&[0x3a, 0xe8, 0x07, 0x01, 0x02]).unwrap_err().to_string();
        assert!(e.contains("1000 bytes") && e.contains("truncated"), "{e}");
        // Wire type 3 (a group) and an unterminated varint.
        assert!(ModelProto::decode(&[0x0b]).is_err());
        assert!(ModelProto::decode(&[0x08, 0xff, 0xff]).is_err());
        // Field number 0.
        assert!(ModelProto::decode(&[0x00, 0x01]).is_err());
    }
}
