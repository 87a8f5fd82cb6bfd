"""The messages of ../proto/vision.proto, built at import with protobuf's descriptor API
(the same field names and numbers; no generated code, no protoc)."""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_T = descriptor_pb2.FieldDescriptorProto


def _file():
    f = descriptor_pb2.FileDescriptorProto(name="weir_vision_python.proto", package="vision",
                                           syntax="proto3")

    def message(name, fields):
        m = f.message_type.add(name=name)
        for number, (field, kind, type_name, repeated) in enumerate(fields, start=1):
            label = _T.LABEL_REPEATED if repeated else _T.LABEL_OPTIONAL
            entry = m.field.add(name=field, number=number, type=kind, label=label)
            if type_name:
                entry.type_name = type_name

    message("BoundingBox", [("x_min", _T.TYPE_INT32, None, False),
                            ("y_min", _T.TYPE_INT32, None, False),
                            ("x_max", _T.TYPE_INT32, None, False),
                            ("y_max", _T.TYPE_INT32, None, False)])
    message("DetectedObject", [("label", _T.TYPE_STRING, None, False),
                               ("confidence", _T.TYPE_FLOAT, None, False),
                               ("box", _T.TYPE_MESSAGE, ".vision.BoundingBox", False)])
    message("DetectionRequest", [("camera_id", _T.TYPE_STRING, None, False)])
    message("DetectionEvent", [("camera_id", _T.TYPE_STRING, None, False),
                               ("timestamp_ms", _T.TYPE_INT64, None, False),
                               ("objects", _T.TYPE_MESSAGE, ".vision.DetectedObject", True),
                               ("camera_location", _T.TYPE_STRING, None, False),
                               ("camera_status", _T.TYPE_STRING, None, False),
                               ("install_date", _T.TYPE_STRING, None, False)])
    return f


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())


def _class(name):
    descriptor = _pool.FindMessageTypeByName("vision." + name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(_pool).GetPrototype(descriptor)


DetectionRequest = _class("DetectionRequest")
DetectionEvent = _class("DetectionEvent")
