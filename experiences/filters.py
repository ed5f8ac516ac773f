import django_filters

from segments.models import Application, Segment

from .models import Experience


class ExperienceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name")
    kind = django_filters.ChoiceFilter(choices=Experience.Kind.choices, empty_label="Any kind")
    status = django_filters.ChoiceFilter(
        choices=Experience.Status.choices, empty_label="Any status"
    )
    segment = django_filters.ModelChoiceFilter(
        field_name="segments",
        queryset=Segment.objects.none(),
        label="Segment",
        empty_label="Any segment",
    )

    class Meta:
        model = Experience
        fields = ["name", "kind", "status", "segment"]

    def __init__(self, *args: object, application: Application, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # Only this application's segments can be chosen (another's id is an invalid choice).
        self.filters["segment"].queryset = application.segments.all()
