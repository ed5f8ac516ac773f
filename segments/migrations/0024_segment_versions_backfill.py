"""Version 1 of every segment saved before versions existed: its definition as stored, at its
last save, by "the system". Built from the rows as ``Segment.tree`` / ``tree.as_json`` read
them (historical models have neither)."""

from django.db import migrations


def node_of(row, kind):
    if kind == "rule":
        node = {"operator": row.operator}
        if row.value is not None:
            node["value"] = row.value
        node["case_sensitive"] = row.case_sensitive
        key = "company_trait" if row.trait.scope == "company" else "trait"
        return {key: row.trait.key, **node}
    if kind == "reference":
        return {"segment": row.target_id}
    if kind == "event":
        node = {"event": row.event, "operator": row.operator, "value": row.value}
        if row.within_days is not None:
            node["within_days"] = row.within_days
        return node
    if kind == "experience":
        return {"experience": row.experience_id, "state": row.state}
    return {"company_users": {"segment": row.target_id}, "operator": row.operator, "value": row.value}


def definition_of(segment):
    children = {}
    sources = [
        ("rule", 0, segment.rules.select_related("trait")),
        ("reference", 1, segment.segment_conditions.all()),
        ("event", 1, segment.event_rules.all()),
        ("experience", 1, segment.experience_rules.all()),
        ("company_users", 1, segment.company_users_rules.all()),
    ]
    for kind, order, rows in sources:
        for row in rows:
            children.setdefault(row.group_id, []).append((row.position, order, node_of(row, kind)))
    groups = {group.pk: group for group in segment.groups.all()}
    for group in groups.values():
        children.setdefault(group.parent_id, []).append((group.position, 2, group.pk))

    def build(group_id, match):
        rules = []
        for _, order, node in sorted(children.get(group_id, []), key=lambda c: c[:2]):
            rules.append(build(node, groups[node].match) if order == 2 else node)
        return {"match": match, "rules": rules}

    return build(None, segment.match)


def backfill(apps, schema_editor):
    Segment = apps.get_model("segments", "Segment")
    SegmentVersion = apps.get_model("segments", "SegmentVersion")
    for segment in Segment.objects.filter(is_builtin=False, versions__isnull=True).iterator():
        SegmentVersion.objects.create(
            segment=segment,
            number=1,
            created_at=segment.updated_at,
            via="system",
            actor_name="the system",
            definition={
                "name": segment.name,
                "description": segment.description,
                "definition": definition_of(segment),
            },
        )


class Migration(migrations.Migration):
    dependencies = [("segments", "0023_segment_versions")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
