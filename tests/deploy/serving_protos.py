"""Message classes for Serving's batching and monitoring config files.

The tensorflow-serving-api wheel ships model_server_config.proto but not monitoring_config.proto
or session_bundle_config.proto, whose messages the model server parses from
--monitoring_config_file and --batching_parameters_file. These descriptors mirror the upstream
definitions field for field (names, numbers, types), so text_format rejects exactly what the
server would: unknown fields, wrong types, misspellings.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

F = descriptor_pb2.FieldDescriptorProto
_INT64_WRAPPER = ".google.protobuf.Int64Value"


def _field(msg, name: str, number: int, ftype: int, type_name: str = "", repeated: bool = False) -> None:
    field = msg.field.add(name=name, number=number, type=ftype,
                          label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name


def _build():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(name="deploy_test/serving_configs.proto", package="tensorflow.serving",
                                               syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    prometheus = proto.message_type.add(name="PrometheusConfig")
    _field(prometheus, "enable", 1, F.TYPE_BOOL)
    _field(prometheus, "path", 2, F.TYPE_STRING)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    _field(monitoring, "prometheus_config", 1, F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")
    batching = proto.message_type.add(name="BatchingParameters")
    for number, name in enumerate(("max_batch_size", "batch_timeout_micros", "max_enqueued_batches",
                                   "num_batch_threads"), start=1):
        _field(batching, name, number, F.TYPE_MESSAGE, _INT64_WRAPPER)
    _field(batching, "thread_pool_name", 5, F.TYPE_MESSAGE, ".google.protobuf.StringValue")
    _field(batching, "allowed_batch_sizes", 6, F.TYPE_INT64, repeated=True)
    _field(batching, "pad_variable_length_inputs", 7, F.TYPE_BOOL)
    pool.Add(proto)
    get = message_factory.GetMessageClass
    return (get(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig")),
            get(pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")))


MonitoringConfig, BatchingParameters = _build()
