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
    FEATURE_STATUS_NULL_VALUE: _ClassVar[FeatureStatus]

class ValueType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALUE_TYPE_UNSPECIFIED: _ClassVar[ValueType]
    VALUE_TYPE_INT64: _ClassVar[ValueType]
    VALUE_TYPE_DOUBLE: _ClassVar[ValueType]
    VALUE_TYPE_STRING: _ClassVar[ValueType]
    VALUE_TYPE_BOOL: _ClassVar[ValueType]
    VALUE_TYPE_FLOAT_VECTOR: _ClassVar[ValueType]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_REVIEW: _ClassVar[Decision]
    DECISION_BLOCK: _ClassVar[Decision]
FEATURE_STATUS_UNSPECIFIED: FeatureStatus
FEATURE_STATUS_PRESENT: FeatureStatus
FEATURE_STATUS_NOT_FOUND: FeatureStatus
FEATURE_STATUS_OUTSIDE_MAX_AGE: FeatureStatus
FEATURE_STATUS_NULL_VALUE: FeatureStatus
VALUE_TYPE_UNSPECIFIED: ValueType
VALUE_TYPE_INT64: ValueType
VALUE_TYPE_DOUBLE: ValueType
VALUE_TYPE_STRING: ValueType
VALUE_TYPE_BOOL: ValueType
VALUE_TYPE_FLOAT_VECTOR: ValueType
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_REVIEW: Decision
DECISION_BLOCK: Decision

class RequestInput(_message.Message):
    __slots__ = ("string_values", "double_values", "int64_values", "bool_values")
    STRING_VALUES_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUES_FIELD_NUMBER: _ClassVar[int]
    INT64_VALUES_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUES_FIELD_NUMBER: _ClassVar[int]
    string_values: _containers.RepeatedScalarFieldContainer[str]
    double_values: _containers.RepeatedScalarFieldContainer[float]
    int64_values: _containers.RepeatedScalarFieldContainer[int]
    bool_values: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, string_values: _Optional[_Iterable[str]] = ..., double_values: _Optional[_Iterable[float]] = ..., int64_values: _Optional[_Iterable[int]] = ..., bool_values: _Optional[_Iterable[bool]] = ...) -> None: ...

class GetOnlineFeaturesRequest(_message.Message):
    __slots__ = ("feature_service", "content_ids", "feature_refs", "request_inputs")
    class RequestInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RequestInput
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RequestInput, _Mapping]] = ...) -> None: ...
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_REFS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_INPUTS_FIELD_NUMBER: _ClassVar[int]
    feature_service: str
    content_ids: _containers.RepeatedScalarFieldContainer[str]
    feature_refs: _containers.RepeatedScalarFieldContainer[str]
    request_inputs: _containers.MessageMap[str, RequestInput]
    def __init__(self, feature_service: _Optional[str] = ..., content_ids: _Optional[_Iterable[str]] = ..., feature_refs: _Optional[_Iterable[str]] = ..., request_inputs: _Optional[_Mapping[str, RequestInput]] = ...) -> None: ...

class FloatVector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class FeatureColumn(_message.Message):
    __slots__ = ("name", "type", "int64_values", "double_values", "string_values", "bool_values", "vector_values", "statuses", "event_timestamps_us")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INT64_VALUES_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUES_FIELD_NUMBER: _ClassVar[int]
    STRING_VALUES_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUES_FIELD_NUMBER: _ClassVar[int]
    VECTOR_VALUES_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIMESTAMPS_US_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: ValueType
    int64_values: _containers.RepeatedScalarFieldContainer[int]
    double_values: _containers.RepeatedScalarFieldContainer[float]
    string_values: _containers.RepeatedScalarFieldContainer[str]
    bool_values: _containers.RepeatedScalarFieldContainer[bool]
    vector_values: _containers.RepeatedCompositeFieldContainer[FloatVector]
    statuses: _containers.RepeatedScalarFieldContainer[FeatureStatus]
    event_timestamps_us: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[ValueType, str]] = ..., int64_values: _Optional[_Iterable[int]] = ..., double_values: _Optional[_Iterable[float]] = ..., string_values: _Optional[_Iterable[str]] = ..., bool_values: _Optional[_Iterable[bool]] = ..., vector_values: _Optional[_Iterable[_Union[FloatVector, _Mapping]]] = ..., statuses: _Optional[_Iterable[_Union[FeatureStatus, str]]] = ..., event_timestamps_us: _Optional[_Iterable[int]] = ...) -> None: ...

class GetOnlineFeaturesResponse(_message.Message):
    __slots__ = ("feature_service", "feature_names", "content_ids", "columns", "feature_service_version")
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NAMES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SERVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    feature_service: str
    feature_names: _containers.RepeatedScalarFieldContainer[str]
    content_ids: _containers.RepeatedScalarFieldContainer[str]
    columns: _containers.RepeatedCompositeFieldContainer[FeatureColumn]
    feature_service_version: str
    def __init__(self, feature_service: _Optional[str] = ..., feature_names: _Optional[_Iterable[str]] = ..., content_ids: _Optional[_Iterable[str]] = ..., columns: _Optional[_Iterable[_Union[FeatureColumn, _Mapping]]] = ..., feature_service_version: _Optional[str] = ...) -> None: ...

class ScoreRequest(_message.Message):
    __slots__ = ("model", "content_ids", "model_version", "request_inputs")
    class RequestInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RequestInput
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RequestInput, _Mapping]] = ...) -> None: ...
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTENT_IDS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_INPUTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    content_ids: _containers.RepeatedScalarFieldContainer[str]
    model_version: str
    request_inputs: _containers.MessageMap[str, RequestInput]
    def __init__(self, model: _Optional[str] = ..., content_ids: _Optional[_Iterable[str]] = ..., model_version: _Optional[str] = ..., request_inputs: _Optional[_Mapping[str, RequestInput]] = ...) -> None: ...

class ContentScore(_message.Message):
    __slots__ = ("content_id", "score", "missing_features", "decision", "decision_threshold", "found", "category_scores", "decision_category", "decision_reason", "explicit_suggested")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FEATURES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DECISION_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_SCORES_FIELD_NUMBER: _ClassVar[int]
    DECISION_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DECISION_REASON_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_SUGGESTED_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    score: float
    missing_features: int
    decision: Decision
    decision_threshold: float
    found: bool
    category_scores: _containers.RepeatedCompositeFieldContainer[CategoryScore]
    decision_category: str
    decision_reason: str
    explicit_suggested: bool
    def __init__(self, content_id: _Optional[str] = ..., score: _Optional[float] = ..., missing_features: _Optional[int] = ..., decision: _Optional[_Union[Decision, str]] = ..., decision_threshold: _Optional[float] = ..., found: _Optional[bool] = ..., category_scores: _Optional[_Iterable[_Union[CategoryScore, _Mapping]]] = ..., decision_category: _Optional[str] = ..., decision_reason: _Optional[str] = ..., explicit_suggested: _Optional[bool] = ...) -> None: ...

class CategoryScore(_message.Message):
    __slots__ = ("category", "probability")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    category: str
    probability: float
    def __init__(self, category: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class ScoreResponse(_message.Message):
    __slots__ = ("model", "model_version", "scores", "policy")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    model: str
    model_version: str
    scores: _containers.RepeatedCompositeFieldContainer[ContentScore]
    policy: DecisionPolicy
    def __init__(self, model: _Optional[str] = ..., model_version: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[ContentScore, _Mapping]]] = ..., policy: _Optional[_Union[DecisionPolicy, _Mapping]] = ...) -> None: ...

class DecisionPolicy(_message.Message):
    __slots__ = ("review_threshold", "block_threshold", "rules", "calibrated_on", "deployment_prevalence")
    class DeploymentPrevalenceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    REVIEW_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    BLOCK_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_ON_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_PREVALENCE_FIELD_NUMBER: _ClassVar[int]
    review_threshold: float
    block_threshold: float
    rules: _containers.RepeatedCompositeFieldContainer[CategoryRule]
    calibrated_on: str
    deployment_prevalence: _containers.ScalarMap[str, float]
    def __init__(self, review_threshold: _Optional[float] = ..., block_threshold: _Optional[float] = ..., rules: _Optional[_Iterable[_Union[CategoryRule, _Mapping]]] = ..., calibrated_on: _Optional[str] = ..., deployment_prevalence: _Optional[_Mapping[str, float]] = ...) -> None: ...

class CategoryRule(_message.Message):
    __slots__ = ("category", "block_at", "review_at", "review_only_if_not_explicit", "explicit_at")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BLOCK_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ONLY_IF_NOT_EXPLICIT_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_AT_FIELD_NUMBER: _ClassVar[int]
    category: str
    block_at: float
    review_at: float
    review_only_if_not_explicit: bool
    explicit_at: float
    def __init__(self, category: _Optional[str] = ..., block_at: _Optional[float] = ..., review_at: _Optional[float] = ..., review_only_if_not_explicit: _Optional[bool] = ..., explicit_at: _Optional[float] = ...) -> None: ...

class ListFeatureServicesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FeatureInfo(_message.Message):
    __slots__ = ("name", "type", "max_age_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MAX_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: ValueType
    max_age_seconds: int
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[ValueType, str]] = ..., max_age_seconds: _Optional[int] = ...) -> None: ...

class FeatureServiceInfo(_message.Message):
    __slots__ = ("name", "version", "features", "request_inputs")
    class RequestInputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ValueType
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ValueType, str]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_INPUTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    features: _containers.RepeatedCompositeFieldContainer[FeatureInfo]
    request_inputs: _containers.ScalarMap[str, ValueType]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., features: _Optional[_Iterable[_Union[FeatureInfo, _Mapping]]] = ..., request_inputs: _Optional[_Mapping[str, ValueType]] = ...) -> None: ...

class ListFeatureServicesResponse(_message.Message):
    __slots__ = ("feature_services",)
    FEATURE_SERVICES_FIELD_NUMBER: _ClassVar[int]
    feature_services: _containers.RepeatedCompositeFieldContainer[FeatureServiceInfo]
    def __init__(self, feature_services: _Optional[_Iterable[_Union[FeatureServiceInfo, _Mapping]]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "version", "versions", "feature_service", "policy", "categories")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    versions: _containers.RepeatedScalarFieldContainer[str]
    feature_service: str
    policy: DecisionPolicy
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., versions: _Optional[_Iterable[str]] = ..., feature_service: _Optional[str] = ..., policy: _Optional[_Union[DecisionPolicy, _Mapping]] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class SimilarContentRequest(_message.Message):
    __slots__ = ("content_id", "text", "k", "content_types", "exclude_same_creator", "exclude_blocked", "min_similarity", "creator_id")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SAME_CREATOR_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_BLOCKED_FIELD_NUMBER: _ClassVar[int]
    MIN_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    CREATOR_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    text: str
    k: int
    content_types: _containers.RepeatedScalarFieldContainer[str]
    exclude_same_creator: bool
    exclude_blocked: bool
    min_similarity: float
    creator_id: str
    def __init__(self, content_id: _Optional[str] = ..., text: _Optional[str] = ..., k: _Optional[int] = ..., content_types: _Optional[_Iterable[str]] = ..., exclude_same_creator: _Optional[bool] = ..., exclude_blocked: _Optional[bool] = ..., min_similarity: _Optional[float] = ..., creator_id: _Optional[str] = ...) -> None: ...

class SimilarItem(_message.Message):
    __slots__ = ("content_id", "similarity", "content_type", "creator_id")
    CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATOR_ID_FIELD_NUMBER: _ClassVar[int]
    content_id: str
    similarity: float
    content_type: str
    creator_id: str
    def __init__(self, content_id: _Optional[str] = ..., similarity: _Optional[float] = ..., content_type: _Optional[str] = ..., creator_id: _Optional[str] = ...) -> None: ...

class SimilarContentResponse(_message.Message):
    __slots__ = ("items", "index_version", "query_content_id")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSION_FIELD_NUMBER: _ClassVar[int]
    QUERY_CONTENT_ID_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[SimilarItem]
    index_version: str
    query_content_id: str
    def __init__(self, items: _Optional[_Iterable[_Union[SimilarItem, _Mapping]]] = ..., index_version: _Optional[str] = ..., query_content_id: _Optional[str] = ...) -> None: ...
