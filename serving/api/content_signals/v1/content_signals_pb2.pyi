import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeatureStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEATURE_STATUS_UNSPECIFIED: _ClassVar[FeatureStatus]
    FEATURE_STATUS_PRESENT: _ClassVar[FeatureStatus]
    FEATURE_STATUS_NOT_FOUND: _ClassVar[FeatureStatus]
    FEATURE_STATUS_OUTSIDE_MAX_AGE: _ClassVar[FeatureStatus]
FEATURE_STATUS_UNSPECIFIED: FeatureStatus
FEATURE_STATUS_PRESENT: FeatureStatus
FEATURE_STATUS_NOT_FOUND: FeatureStatus
FEATURE_STATUS_OUTSIDE_MAX_AGE: FeatureStatus

class GetOnlineFeaturesRequest(_message.Message):
    __slots__ = ("feature_service", "content_ids")
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    feature_service: str
    content_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, feature_service: _Optional[str] = ..., content_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class FeatureValue(_message.Message):
    __slots__ = ("int64_value", "double_value", "string_value", "bool_value", "status", "event_timestamp")
    INT64_VALUE_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUE_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    int64_value: int
    double_value: float
    string_value: str
    bool_value: bool
    status: FeatureStatus
    event_timestamp: _timestamp_pb2.Timestamp
    def __init__(self, int64_value: _Optional[int] = ..., double_value: _Optional[float] = ..., string_value: _Optional[str] = ..., bool_value: _Optional[bool] = ..., status: _Optional[_Union[FeatureStatus, str]] = ..., event_timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EntityFeatures(_message.Message):
    __slots__ = ("content_id", "values")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    values: _containers.RepeatedCompositeFieldContainer[FeatureValue]
    def __init__(self, content_id: _Optional[str] = ..., values: _Optional[_Iterable[_Union[FeatureValue, _Mapping]]] = ...) -> None: ...

class GetOnlineFeaturesResponse(_message.Message):
    __slots__ = ("feature_service", "feature_names", "entities")
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    feature_service: str
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    entities: _containers.RepeatedCompositeFieldContainer[EntityFeatures]
    def __init__(self, feature_service: _Optional[str] = ..., feature_names: _Optional[_Iterable[str]] = ..., entities: _Optional[_Iterable[_Union[EntityFeatures, _Mapping]]] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("model", "content_ids")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    content_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model: _Optional[str] = ..., content_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ContentScore(_message.Message):
    __slots__ = ("content_id", "score", "missing_features")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FEATURES_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    score: float
    missing_features: int
    def __init__(self, content_id: _Optional[str] = ..., score: _Optional[float] = ..., missing_features: _Optional[int] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("model", "model_version", "scores")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    model: str
    model_version: str
    scores: _containers.RepeatedCompositeFieldContainer[ContentScore]
    def __init__(self, model: _Optional[str] = ..., model_version: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[ContentScore, _Mapping]]] = ...) -> None: ...
