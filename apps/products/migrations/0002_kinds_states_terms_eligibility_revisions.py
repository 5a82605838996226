"""Product kinds as a table, states (draft → in review → live → retired) replacing is_active
(now derived from the state), fees, APR, eligibility, disclosure, logo, and lender revisions."""

import apps.products.models
import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


BUILT_IN_KINDS = [("personal", "Personal loan"), ("payroll", "Payroll loan"), ("micro", "Microcredit")]


def kinds_create(apps, schema_editor):
    ProductKind = apps.get_model("products", "ProductKind")
    for code, name in BUILT_IN_KINDS:
        ProductKind.objects.get_or_create(code=code, defaults={"name": name})


def states_from_is_active(apps, schema_editor):
    """Active products were live; inactive ones are retired."""
    Product = apps.get_model("products", "Product")
    Product.objects.filter(is_active=False).update(state="retired")


def is_active_from_states(apps, schema_editor):
    Product = apps.get_model("products", "Product")
    Product.objects.exclude(state="live").update(is_active=False)


class Migration(migrations.Migration):

    dependencies = [
        ('lenders', '0001_initial'),
        ('products', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ProductKind',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('code', models.CharField(max_length=20, unique=True, validators=[django.core.validators.RegexValidator('^[a-z]{2,20}$', 'Lowercase letters only (it becomes part of product_id).')])),
                ('name', models.CharField(max_length=80)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='ProductRevision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('data', models.JSONField()),
                ('state', models.CharField(choices=[('pending', 'Pending review'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('superseded', 'Superseded by a newer proposal')], db_index=True, default='pending', max_length=12)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('note', models.CharField(blank=True, help_text='Why it was rejected, for the lender.', max_length=500)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddField(
            model_name='product',
            name='apr',
            field=models.DecimalField(blank=True, decimal_places=4, help_text='Total annual cost including fees, as the lender declares it (E.A.).', max_digits=6, null=True, validators=[django.core.validators.MinValueValidator(0)], verbose_name='APR'),
        ),
        migrations.AddField(
            model_name='product',
            name='disclosure',
            field=models.TextField(blank=True, help_text='Legal text shown with the offer.'),
        ),
        migrations.AddField(
            model_name='product',
            name='document_types',
            field=models.JSONField(blank=True, default=list, help_text='e.g. ["CC", "CE"]; empty: any.', validators=[apps.products.models.validate_document_types]),
        ),
        migrations.AddField(
            model_name='product',
            name='lender_reference',
            field=models.CharField(blank=True, help_text="The lender's own code for this product (its API creates by it).", max_length=64),
        ),
        migrations.AddField(
            model_name='product',
            name='logo_url',
            field=models.URLField(blank=True, help_text="The lender's logo (https).", max_length=500, validators=[django.core.validators.URLValidator(schemes=['https'])]),
        ),
        migrations.AddField(
            model_name='product',
            name='max_age',
            field=models.PositiveSmallIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(18), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AddField(
            model_name='product',
            name='min_age',
            field=models.PositiveSmallIntegerField(blank=True, null=True, validators=[django.core.validators.MinValueValidator(18), django.core.validators.MaxValueValidator(100)]),
        ),
        migrations.AddField(
            model_name='product',
            name='min_monthly_income',
            field=models.PositiveBigIntegerField(blank=True, help_text='Empty: no minimum.', null=True),
        ),
        migrations.AddField(
            model_name='product',
            name='monthly_fee',
            field=models.DecimalField(decimal_places=2, default=0, help_text='Fixed fee added to every installment (insurance, administration).', max_digits=12, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='product',
            name='opening_fee',
            field=models.DecimalField(decimal_places=2, default=0, help_text="Fixed fee charged once, in the product's currency.", max_digits=12, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddField(
            model_name='product',
            name='opening_fee_percent',
            field=models.DecimalField(decimal_places=4, default=0, help_text='Fee charged once as a share of the amount: 0.0200 means 2 %.', max_digits=6, validators=[django.core.validators.MinValueValidator(0), django.core.validators.MaxValueValidator(1)]),
        ),
        migrations.AddField(
            model_name='product',
            name='regions',
            field=models.JSONField(blank=True, default=list, help_text='ISO 3166-2:CO codes, e.g. ["CO-DC"]; empty: all.', validators=[apps.products.models.validate_regions]),
        ),
        migrations.AddField(
            model_name='product',
            name='state',
            field=models.CharField(choices=[('draft', 'Draft'), ('in_review', 'In review'), ('live', 'Live'), ('retired', 'Retired')], db_index=True, default='live', max_length=10),
        ),
        migrations.AddField(
            model_name='product',
            name='went_live_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='When it was first made live.', null=True),
        ),
        migrations.RunPython(kinds_create, migrations.RunPython.noop),
        migrations.RunPython(states_from_is_active, is_active_from_states),
        migrations.RemoveField(model_name='product', name='is_active'),
        migrations.AddField(
            model_name='product',
            name='is_active',
            field=models.GeneratedField(db_persist=True, expression=models.Case(models.When(state='live', then=True), default=False), output_field=models.BooleanField()),
        ),
        migrations.AlterField(
            model_name='product',
            name='kind',
            field=models.CharField(help_text='A ProductKind code.', max_length=20),
        ),
        migrations.AlterField(
            model_name='product',
            name='max_annual_rate',
            field=models.DecimalField(decimal_places=4, max_digits=6, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AlterField(
            model_name='product',
            name='min_annual_rate',
            field=models.DecimalField(decimal_places=4, help_text='E.A.: 0.1850 means 18.50 % a year.', max_digits=6, validators=[django.core.validators.MinValueValidator(0)]),
        ),
        migrations.AddConstraint(
            model_name='product',
            constraint=models.UniqueConstraint(condition=models.Q(('lender_reference', ''), _negated=True), fields=('lender', 'lender_reference'), name='product_lender_reference_unique'),
        ),
        migrations.AddField(
            model_name='productrevision',
            name='decided_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='productrevision',
            name='product',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='revisions', to='products.product'),
        ),
        migrations.AddConstraint(
            model_name='productrevision',
            constraint=models.UniqueConstraint(condition=models.Q(('state', 'pending')), fields=('product',), name='product_one_pending_revision'),
        ),
    ]
